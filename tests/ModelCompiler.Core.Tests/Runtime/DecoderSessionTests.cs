using ModelCompiler.Import;
using ModelCompiler.Onnx;
using ModelCompiler.Onnx.Proto;
using ModelCompiler.Runtime;

namespace ModelCompiler.Tests.Runtime;

[Collection(Stories260KCollection.Name)]
public sealed class DecoderSessionTests(Stories260KFixture f) : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("mc-session");

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void Session_DescribesTheImportedModel()
    {
        var s = f.Session;
        Assert.True(s.HasAttentionMask);
        Assert.True(s.HasPositionIds);
        Assert.Equal(5, s.Layers);
        Assert.Equal(4, s.KvHeads);
        Assert.Equal(8, s.HeadDim);
        Assert.Equal(512, s.VocabSize);
        Assert.Equal(f.ModelPath, s.ModelPath);
        Assert.Empty(s.ExtraOutputs);
    }

    [Fact]
    public void Run_WithoutTokens_Throws()
    {
        Assert.Throws<ArgumentException>(() => f.Session.Run(ReadOnlySpan<long>.Empty));
    }

    [Fact]
    public void KvCache_DisposeResetsIt()
    {
        var cache = new KvCache();
        using (f.Session.Run([1, 400, 200], cache)) { }
        Assert.Equal(3, cache.Length);
        cache.Dispose();
        Assert.Equal(0, cache.Length);
        // A disposed cache starts over from position 0.
        using var step = f.Session.Run([1], cache);
        using var fresh = f.Session.Run([1]);
        Assert.Equal(fresh.LogitsAt(0).ToArray(), step.LogitsAt(0).ToArray());
        cache.Dispose();
    }

    [Fact]
    public void Batch_EachRowMatchesThatSequenceRunAlone_WithAndWithoutTheCache()
    {
        long[][] rows = [[1, 400, 200, 37], [1, 5, 6, 7], [1, 511, 0, 300]];
        using var cache = new KvCache();
        using (var prefill = f.Session.Run(rows.SelectMany(r => r[..3]).ToArray(), rows.Length, cache))
        {
            Assert.Equal(3, prefill.Batch);
            Assert.Equal(3, cache.Length);
            Assert.Equal(3, cache.Batch);
            for (var r = 0; r < rows.Length; r++)
            {
                using var alone = f.Session.Run(rows[r][..3]);
                for (var t = 0; t < 3; t++) AssertClose(alone.LogitsAt(t), prefill.LogitsAt(r, t));
            }
        }
        using var next = f.Session.Run(rows.Select(r => r[3]).ToArray(), rows.Length, cache);
        Assert.Equal(4, cache.Length);
        for (var r = 0; r < rows.Length; r++)
        {
            using var alone = f.Session.Run(rows[r]);
            AssertClose(alone.LogitsAt(3), next.LogitsAt(r, 0));
        }
        Assert.Throws<ArgumentException>(() => f.Session.Run([1, 2], 2, cache)); // the cache holds 3 rows
        Assert.Throws<ArgumentException>(() => f.Session.Run([1, 2, 3], 2));     // 3 tokens are not 2 equal rows
    }

    private static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4f * (1 + Math.Abs(expected[i])), $"logit {i}: {expected[i]} vs {actual[i]}");
    }

    [Fact]
    public void ExtraOutputs_ExposeIntermediateTensors()
    {
        var name = "/model/layers.0/mlp/down_proj/MatMul_output_0";
        var model = OnnxModelIO.Load(f.ModelPath);
        model.Graph.Output.Add(new ValueInfoProto { Name = name });
        var path = Path.Combine(_dir, "with-extra.onnx");
        OnnxModelIO.Save(model, path);

        using var session = new DecoderSession(path, extraOutputs: [name]);
        using var step = session.Run([1, 300, 301, 302]);
        var shape = step.Extra(0).GetTensorTypeAndShape().Shape;
        Assert.Equal([1L, 4L, 64L], shape);
    }

    [Fact]
    public void ExternalDataModel_GivesTheSameLogits()
    {
        var path = Path.Combine(_dir, "ext.onnx");
        var data = Llama2cImporter.Import(TestPaths.Checkpoint, null, path, new SaveOptions { ExternalData = ExternalDataMode.Always });
        Assert.True(File.Exists(path + ".data"));
        Assert.True(new FileInfo(path).Length < 100_000, "the weights should be in the side file");

        long[] tokens = [1, 403, 411, 263, 400, 261];
        using var session = new DecoderSession(path);
        using var a = session.Run(tokens);
        using var b = f.Session.Run(tokens);
        Assert.Equal(b.Logits.ToArray(), a.Logits.ToArray());
    }

    [Fact]
    public void AnOrtFailureDuringARun_IsMC3001_NamingTheModel()
    {
        // Token 100000 is outside the 512-entry embedding: the Gather fails inside ONNX Runtime.
        var e = Assert.Throws<ModelCompilerException>(() => { using var step = f.Session.Run([1L, 100_000L]); });
        Assert.Equal("MC3001", e.Code);
        Assert.Equal(f.ModelPath, e.File);
        Assert.IsType<Microsoft.ML.OnnxRuntime.OnnxRuntimeException>(e.InnerException);
    }

    [Fact]
    public void GarbageFile_IsMC1002_BadInput()
    {
        var path = Path.Combine(_dir, "garbage.onnx");
        File.WriteAllBytes(path, [0xFF, 0xFE, 0x00, 0x13, 0x37]);
        var e = Assert.Throws<ModelCompilerException>(() => new DecoderSession(path));
        Assert.Equal("MC1002", e.Code);
        Assert.Equal(path, e.File);
    }

    [Fact]
    public void ModelWithoutInputIds_IsMC1040()
    {
        var g = new GraphProto { Name = "identity" };
        g.Input.Add(FloatInfo("x"));
        g.Output.Add(FloatInfo("y"));
        var n = new NodeProto { OpType = "Identity", Name = "id" };
        n.Input.Add("x");
        n.Output.Add("y");
        g.Node.Add(n);
        var model = new ModelProto { IrVersion = 8, Graph = g };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        var path = Path.Combine(_dir, "identity.onnx");
        OnnxModelIO.Save(model, path);

        var e = Assert.Throws<ModelCompilerException>(() => new DecoderSession(path));
        Assert.Equal("MC1040", e.Code);
        Assert.Contains("input_ids", e.Message);
    }

    [Fact]
    public void ModelTokenizer_FindsTheTokenizerBesideTheModel()
    {
        Assert.Equal(Path.ChangeExtension(f.ModelPath, ".tokenizer.bin"), f.Tokenizer.SourcePath);
        Assert.Equal(512, f.Tokenizer.VocabularySize);
    }

    [Fact]
    public void ModelTokenizer_RefusesAMetadataPathThatEscapesTheFolder()
    {
        var meta = new Dictionary<string, string> { [Llama2cImporter.MetadataKeys.Tokenizer] = "../../etc/passwd" };
        var e = Assert.Throws<ModelCompilerException>(() => ModelTokenizer.FindBeside(Path.Combine(_dir, "m.onnx"), meta));
        Assert.Equal("MC1004", e.Code);
    }

    [Fact]
    public void ModelTokenizer_WithoutATokenizer_IsAnError()
    {
        var path = Path.Combine(_dir, "bare.onnx");
        Llama2cImporter.Import(TestPaths.Checkpoint, null, path);
        using var session = new DecoderSession(path);
        var e = Assert.Throws<ModelCompilerException>(() => ModelTokenizer.Load(session, null));
        Assert.Equal(ModelCompiler.Tokenization.TokenizationErrors.TokenizerNotFound, e.Code);
        Assert.Equal(path, e.File);
        // An explicit tokenizer works.
        Assert.Equal(512, ModelTokenizer.Load(session, TestPaths.Tokenizer).VocabularySize);
    }

    private static ValueInfoProto FloatInfo(string name)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = 2 });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }
}

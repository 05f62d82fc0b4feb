using ModelCompiler.Import;
using ModelCompiler.Onnx;
using ModelCompiler.Onnx.Proto;
using ModelCompiler.Runtime;
using Xunit.Abstractions;

namespace ModelCompiler.Tests.Import;

public sealed class ImporterTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("mc-import");

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string ImportStories(string name = "stories260K.onnx")
    {
        var path = Path.Combine(_dir, name);
        Llama2cImporter.Import(TestPaths.Checkpoint, TestPaths.Tokenizer, path);
        return path;
    }

    [Fact]
    public void Import_WritesTheModelAndItsTokenizerBesideIt()
    {
        var path = ImportStories();
        var tokenizer = Path.Combine(_dir, "stories260K.tokenizer.bin");
        Assert.Equal(tokenizer, Llama2cImporter.TokenizerPathFor(path));
        Assert.Equal(File.ReadAllBytes(TestPaths.Tokenizer), File.ReadAllBytes(tokenizer));
        Assert.Equal(["stories260K.onnx", "stories260K.tokenizer.bin"], Directory.GetFiles(_dir).Select(Path.GetFileName).Order());

        var model = OnnxModelIO.Load(path);
        var meta = model.MetadataProps.ToDictionary(p => p.Key, p => p.Value);
        Assert.Equal("stories260K.tokenizer.bin", meta[Llama2cImporter.MetadataKeys.Tokenizer]);
        Assert.Equal("llama", meta[Llama2cImporter.MetadataKeys.Architecture]);
        Assert.Equal("1", meta[Llama2cImporter.MetadataKeys.BosTokenId]);
        Assert.Equal("2", meta[Llama2cImporter.MetadataKeys.EosTokenId]);
        Assert.Equal("llama2.c:stories260K.bin", meta[Llama2cImporter.MetadataKeys.Source]);
        Assert.Equal(17, model.OpsetImport.Single(o => o.Domain == "").Version);
    }

    [Fact]
    public void Import_IsDeterministic()
    {
        // Same output name in two folders (the model names its tokenizer after its own file name).
        var a = ImportStories(Path.Combine("a", "m.onnx"));
        var b = ImportStories(Path.Combine("b", "m.onnx"));
        Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
        Assert.Equal(File.ReadAllBytes(Path.ChangeExtension(a, ".tokenizer.bin")), File.ReadAllBytes(Path.ChangeExtension(b, ".tokenizer.bin")));
    }

    [Fact]
    public void Graph_HasTheOptimumInputsAndOutputs()
    {
        var g = OnnxModelIO.Load(ImportStories()).Graph;
        var inputs = new List<string> { "input_ids", "attention_mask", "position_ids" };
        var outputs = new List<string> { "logits" };
        for (var i = 0; i < 5; i++)
        {
            inputs.AddRange([$"past_key_values.{i}.key", $"past_key_values.{i}.value"]);
            outputs.AddRange([$"present.{i}.key", $"present.{i}.value"]);
        }
        Assert.Equal(inputs, g.Input.Select(i => i.Name));
        Assert.Equal(outputs, g.Output.Select(o => o.Name));

        string Dims(ValueInfoProto v) => string.Join(",", v.Type.TensorType.Shape.Dim.Select(d => d.HasDimValue ? d.DimValue.ToString() : d.DimParam));
        Assert.Equal("batch,sequence_length", Dims(g.Input[0]));
        Assert.Equal("batch,4,past_sequence_length,8", Dims(g.Input.Single(i => i.Name == "past_key_values.3.value")));
        Assert.Equal("batch,sequence_length,512", Dims(g.Output[0]));
        Assert.Equal((int)TensorProto.Types.DataType.Int64, g.Input[0].Type.TensorType.ElemType);

        // Nodes are already in topological order, and every node has a unique name.
        var sorted = g.Clone();
        new OnnxGraph(sorted).TopologicalSort();
        Assert.Equal(g.Node.Select(n => n.Name), sorted.Node.Select(n => n.Name));
        Assert.Equal(g.Node.Count, g.Node.Select(n => n.Name).Distinct().Count());
    }

    [Fact]
    public void Projections_AreMatMulsWithHuggingFaceNames_AndTransposedWeights()
    {
        var g = OnnxModelIO.Load(ImportStories()).Graph;
        var graph = new OnnxGraph(g);
        var ckpt = Llama2cCheckpoint.Load(TestPaths.Checkpoint);
        var projections = new (string Name, Func<int, float[]> Weight, int Out, int In)[]
        {
            ("self_attn.q_proj", l => ckpt.Wq[l], 64, 64),
            ("self_attn.k_proj", l => ckpt.Wk[l], 32, 64),
            ("self_attn.v_proj", l => ckpt.Wv[l], 32, 64),
            ("self_attn.o_proj", l => ckpt.Wo[l], 64, 64),
            ("mlp.gate_proj", l => ckpt.W1[l], 172, 64),
            ("mlp.up_proj", l => ckpt.W3[l], 172, 64),
            ("mlp.down_proj", l => ckpt.W2[l], 64, 172),
        };
        for (var l = 0; l < 5; l++)
        {
            foreach (var (name, weight, outDim, inDim) in projections)
            {
                var wName = $"model.layers.{l}.{name}.weight";
                var init = graph.Initializer(wName);
                Assert.NotNull(init);
                Assert.Equal([(long)inDim, outDim], init!.Dims);
                var consumer = Assert.Single(graph.Consumers(wName));
                Assert.Equal("MatMul", consumer.OpType);
                Assert.Equal(wName, consumer.Input[1]);

                // ONNX [in][out] is the checkpoint's [out][in] transposed.
                var onnx = TensorData.ReadFloats(init);
                var w = weight(l);
                for (var o = 0; o < outDim; o += 7)
                    for (var i = 0; i < inDim; i += 5)
                        Assert.Equal(w[o * inDim + i], onnx[i * outDim + o]);
            }
            Assert.Equal(ckpt.RmsAtt[l], TensorData.ReadFloats(graph.Initializer($"model.layers.{l}.input_layernorm.weight")!));
            Assert.Equal(ckpt.RmsFfn[l], TensorData.ReadFloats(graph.Initializer($"model.layers.{l}.post_attention_layernorm.weight")!));
        }
        Assert.Equal(ckpt.RmsFinal, TensorData.ReadFloats(graph.Initializer("model.norm.weight")!));
        Assert.Equal(ckpt.TokenEmbedding, TensorData.ReadFloats(graph.Initializer("model.embed_tokens.weight")!));
    }

    /// <summary>The import streams each weight from the checkpoint file when it saves; the files are those of the in-memory build.</summary>
    [Theory]
    [InlineData(ExternalDataMode.Never)]
    [InlineData(ExternalDataMode.Always)]
    public void StreamedImport_WritesTheFilesOfTheInMemoryBuild(ExternalDataMode mode)
    {
        var save = new SaveOptions { ExternalData = mode };
        var streamed = Path.Combine(_dir, "streamed", "m.onnx");
        var returned = Llama2cImporter.Import(TestPaths.Checkpoint, null, streamed, save);
        Assert.True(LazyTensorBytes.IsLazy(returned.Graph.Initializer.Single(t => t.Name == "model.layers.2.mlp.down_proj.weight")));

        var held = Llama2cImporter.Build(Llama2cCheckpoint.Load(TestPaths.Checkpoint), null);
        held.MetadataProps.Add(new StringStringEntryProto { Key = Llama2cImporter.MetadataKeys.Source, Value = "llama2.c:stories260K.bin" });
        Assert.DoesNotContain(held.Graph.Initializer, LazyTensorBytes.IsLazy);
        var heldPath = Path.Combine(_dir, "held", "m.onnx");
        OnnxModelIO.Save(held, heldPath, save);

        Assert.Equal(File.ReadAllBytes(heldPath), File.ReadAllBytes(streamed));
        Assert.Equal(mode == ExternalDataMode.Always, File.Exists(streamed + ".data"));
        if (mode == ExternalDataMode.Always) Assert.Equal(File.ReadAllBytes(heldPath + ".data"), File.ReadAllBytes(streamed + ".data"));
    }

    [Fact]
    public void TiedClassifier_ReadsTheEmbeddingThroughATranspose()
    {
        var graph = new OnnxGraph(OnnxModelIO.Load(ImportStories()).Graph);
        Assert.Null(graph.Initializer("lm_head.weight"));
        var lmHead = graph.Producer("logits")!;
        Assert.Equal("MatMul", lmHead.OpType);
        var transpose = graph.Producer(lmHead.Input[1])!;
        Assert.Equal("Transpose", transpose.OpType);
        Assert.Equal("model.embed_tokens.weight", transpose.Input[0]);
        Assert.Equal([1L, 0L], Attr.Find(transpose, "perm")!.Ints);
        // The embedding is stored once.
        Assert.Single(graph.Proto.Initializer, t => t.Dims.SequenceEqual([512L, 64L]));
    }

    /// <summary>
    /// Random small checkpoints exercise the branches stories260K does not: a separate classifier (negative
    /// vocab_size → lm_head.weight), plain multi-head attention (kv_heads = heads), and 4x grouped-query attention.
    /// The ONNX graph on ONNX Runtime must match the reference forward pass.
    /// </summary>
    [Theory]
    [InlineData(false, 4, 4)]
    [InlineData(true, 4, 1)]
    [InlineData(false, 8, 2)]
    public void SyntheticCheckpoints_MatchTheReference(bool shared, int heads, int kvHeads)
    {
        var ckpt = Path.Combine(_dir, "synthetic.bin");
        SyntheticCheckpoint.Write(ckpt, dim: 32, hidden: 48, layers: 3, heads, kvHeads, vocab: 50, seqLen: 64, shared, seed: heads * 10 + kvHeads);
        var path = Path.Combine(_dir, "synthetic.onnx");
        Llama2cImporter.Import(ckpt, null, path);
        Assert.Equal(!shared, OnnxModelIO.Load(path).Graph.Initializer.Any(t => t.Name == "lm_head.weight"));

        var random = new Random(3);
        var tokens = Enumerable.Range(0, 40).Select(_ => random.Next(50)).ToArray();
        var expected = ReferenceLlama.Load(ckpt).Forward(tokens);

        using var session = new DecoderSession(path);
        Assert.Equal(kvHeads, session.KvHeads);
        Assert.Equal(32 / heads, session.HeadDim);
        double max = 0;
        using (var step = session.Run(tokens.Select(t => (long)t).ToArray()))
            for (var p = 0; p < tokens.Length; p++)
                for (var v = 0; v < 50; v++)
                    max = Math.Max(max, Math.Abs(step.LogitsAt(p)[v] - expected[p][v]));
        using var cache = new KvCache();
        for (var p = 0; p < tokens.Length; p++)
        {
            using var step = session.Run([tokens[p]], cache);
            for (var v = 0; v < 50; v++) max = Math.Max(max, Math.Abs(step.LogitsAt(0)[v] - expected[p][v]));
        }
        output.WriteLine($"synthetic shared={shared} heads={heads}/{kvHeads}: max |logit diff| {max:E3}");
        Assert.True(max < 1e-4, $"max |logit diff| {max:E3}");
    }
}

using Google.Protobuf;
using ModelCompiler.Onnx.Proto;

namespace ModelCompiler.Onnx.Tests;

public sealed class LoadErrorTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void MissingFile_IsMC1001_NamingTheFullPath()
    {
        var path = _dir.File("nope.onnx");
        var e = Assert.Throws<ModelCompilerException>(() => OnnxModelIO.Load(path));
        Assert.Equal("MC1001", e.Code);
        Assert.Equal(path, e.File);
        Assert.StartsWith(path + ": error MC1001: ", e.ToDiagnosticString());
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.25)]
    [InlineData(0.9)]
    public void TruncatedModel_IsMC1002(double keep)
    {
        var bytes = TestModels.Mlp().ToByteArray();
        var path = _dir.File("cut.onnx");
        File.WriteAllBytes(path, bytes[..(int)(bytes.Length * keep)]);
        var e = Assert.Throws<ModelCompilerException>(() => OnnxModelIO.Load(path));
        Assert.Equal("MC1002", e.Code);
        Assert.Equal(path, e.File);
    }

    [Fact]
    public void EveryPrefixEndingBeforeTheGraphIsComplete_IsRejectedWithMC1002()
    {
        // Wherever the cut falls before the end of the graph, the loader reports a corrupt protobuf or a model
        // without graph/IR version: never another exception type, never a model. (A cut exactly after the graph
        // field leaves a valid message, which no protobuf reader can tell apart from a complete one.)
        var model = TestModels.Mlp();
        var bytes = model.ToByteArray();
        var tail = new ModelProto { OpsetImport = { model.OpsetImport }, MetadataProps = { model.MetadataProps } }.CalculateSize();
        var path = _dir.File("prefix.onnx");
        for (var n = 0; n < bytes.Length - tail; n += 7)
        {
            File.WriteAllBytes(path, bytes[..n]);
            var e = Assert.Throws<ModelCompilerException>(() => OnnxModelIO.Load(path));
            Assert.Equal("MC1002", e.Code);
        }
    }

    [Fact]
    public void TextFile_IsMC1002()
    {
        var path = _dir.File("notes.onnx");
        File.WriteAllText(path, "this is not an ONNX model, just some text\n");
        Assert.Equal("MC1002", Assert.Throws<ModelCompilerException>(() => OnnxModelIO.Load(path)).Code);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void RandomBytes_AreMC1002(int seed)
    {
        var garbage = new byte[4096];
        new Random(seed).NextBytes(garbage);
        garbage[0] = 0xFF; // an invalid first tag, so the garbage cannot be a valid message by chance
        var path = _dir.File("garbage.onnx");
        File.WriteAllBytes(path, garbage);
        Assert.Equal("MC1002", Assert.Throws<ModelCompilerException>(() => OnnxModelIO.Load(path)).Code);
    }

    [Fact]
    public void EmptyFile_IsMC1002()
    {
        var path = _dir.File("empty.onnx");
        File.WriteAllBytes(path, []);
        Assert.Equal("MC1002", Assert.Throws<ModelCompilerException>(() => OnnxModelIO.Load(path)).Code);
    }

    [Fact]
    public void ValidProtobufWithoutGraph_IsMC1002()
    {
        var path = _dir.File("nograph.onnx");
        File.WriteAllBytes(path, new ModelProto { IrVersion = 8, ProducerName = "x" }.ToByteArray());
        Assert.Equal("MC1002", Assert.Throws<ModelCompilerException>(() => OnnxModelIO.Load(path)).Code);
    }

    [Fact]
    public void InvalidOffsetText_IsMC1003()
    {
        var model = TestModels.WithExternalTensor("w.bin");
        model.Graph.Initializer[0].ExternalData[1].Value = "12abc";
        File.WriteAllBytes(_dir.File("w.bin"), new byte[64]);
        var path = _dir.File("m.onnx");
        TestModels.WriteRaw(model, path);
        var e = Assert.Throws<ModelCompilerException>(() => OnnxModelIO.Load(path));
        Assert.Equal("MC1003", e.Code);
        Assert.Contains("12abc", e.Message);
    }
}

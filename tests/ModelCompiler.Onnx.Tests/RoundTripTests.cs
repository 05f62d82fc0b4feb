using Google.Protobuf;
using ModelCompiler.Onnx.Proto;

namespace ModelCompiler.Onnx.Tests;

public sealed class RoundTripTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void InlineModel_LoadSaveLoad_IsByteIdentical()
    {
        var original = TestModels.Mlp();
        var first = _dir.File("a.onnx");
        TestModels.WriteRaw(original, first);

        var loaded = OnnxModelIO.Load(first);
        Assert.Equal(original, loaded);

        var second = _dir.File("b.onnx");
        Assert.Null(OnnxModelIO.Save(loaded, second, new SaveOptions { ExternalData = ExternalDataMode.Never }));
        Assert.Equal(File.ReadAllBytes(first), File.ReadAllBytes(second));
        Assert.False(File.Exists(second + ".data"));

        var again = OnnxModelIO.Load(second);
        Assert.Equal(original, again);
        Assert.Equal(
            TensorData.ReadFloats(original.Graph.Initializer.Single(t => t.Name == "w2")),
            TensorData.ReadFloats(again.Graph.Initializer.Single(t => t.Name == "w2")));
    }

    [Fact]
    public void UnknownFields_AtModelAndGraphLevel_SurviveTheRoundTrip()
    {
        // Fields our onnx.proto subset does not model: ModelProto.functions (25) and training_info (20),
        // GraphProto.sparse_initializer (15). Their bytes must come back unchanged.
        var functionsPayload = "FUNCTION-PAYLOAD-7f3a"u8.ToArray();
        var trainingPayload = new byte[] { 0x0A, 0x03, 0x61, 0x62, 0x63 }; // a nested message: field 1 = "abc"
        var sparsePayload = "SPARSE-INITIALIZER-e91c"u8.ToArray();

        var graphBytes = Concat(TestModels.Mlp().Graph.ToByteArray(), LengthDelimited(15, sparsePayload));
        var graph = GraphProto.Parser.ParseFrom(graphBytes);
        var model = TestModels.Mlp();
        model.Graph = graph;
        var modelBytes = Concat(model.ToByteArray(), LengthDelimited(20, trainingPayload), LengthDelimited(25, functionsPayload));

        var path = _dir.File("unknown.onnx");
        File.WriteAllBytes(path, modelBytes);
        var loaded = OnnxModelIO.Load(path);
        var saved = _dir.File("unknown-saved.onnx");
        OnnxModelIO.Save(loaded, saved, new SaveOptions { ExternalData = ExternalDataMode.Never });

        var savedBytes = File.ReadAllBytes(saved);
        Assert.Equal(modelBytes, savedBytes);
        Assert.True(Contains(savedBytes, LengthDelimited(15, sparsePayload)));
        Assert.True(Contains(savedBytes, LengthDelimited(25, functionsPayload)));
    }

    [Fact]
    public void UnknownFields_SurviveAnExternalDataRoundTrip()
    {
        var payload = "FUNCTION-PAYLOAD-0b22"u8.ToArray();
        var modelBytes = Concat(TestModels.Mlp().ToByteArray(), LengthDelimited(25, payload));
        var path = _dir.File("u.onnx");
        File.WriteAllBytes(path, modelBytes);

        var ext = _dir.File("u-ext.onnx");
        OnnxModelIO.Save(OnnxModelIO.Load(path), ext, new SaveOptions { ExternalData = ExternalDataMode.Always });
        Assert.True(Contains(File.ReadAllBytes(ext), LengthDelimited(25, payload)));

        var back = _dir.File("u-back.onnx");
        OnnxModelIO.Save(OnnxModelIO.Load(ext), back, new SaveOptions { ExternalData = ExternalDataMode.Never });
        Assert.Equal(modelBytes, File.ReadAllBytes(back));
    }

    [Fact]
    public void Save_IsDeterministic()
    {
        var model = TestModels.Mlp();
        var options = new SaveOptions { ExternalData = ExternalDataMode.Always, ExternalDataFileName = "weights.bin" };
        var d1 = Directory.CreateDirectory(_dir.File("one")).FullName;
        var d2 = Directory.CreateDirectory(_dir.File("two")).FullName;
        OnnxModelIO.Save(model, Path.Combine(d1, "m.onnx"), options);
        OnnxModelIO.Save(model, Path.Combine(d2, "m.onnx"), options);
        Assert.Equal(File.ReadAllBytes(Path.Combine(d1, "m.onnx")), File.ReadAllBytes(Path.Combine(d2, "m.onnx")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(d1, "weights.bin")), File.ReadAllBytes(Path.Combine(d2, "weights.bin")));
    }

    [Fact]
    public void Save_OverwritesAnExistingModel_AndLeavesNoTemporaryFiles()
    {
        var path = _dir.File("m.onnx");
        File.WriteAllText(path, "old content");
        OnnxModelIO.Save(TestModels.Mlp(), path);
        Assert.Equal(TestModels.Mlp(), OnnxModelIO.Load(path));
        Assert.Equal(["m.onnx"], Directory.GetFiles(_dir.Path).Select(Path.GetFileName));
    }

    internal static byte[] LengthDelimited(int field, byte[] payload)
    {
        using var ms = new MemoryStream();
        var output = new CodedOutputStream(ms);
        output.WriteTag(field, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFrom(payload));
        output.Flush();
        return ms.ToArray();
    }

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    private static bool Contains(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle) >= 0;
}

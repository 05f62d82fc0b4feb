using Google.Protobuf;
using ModelCompiler.Onnx.Proto;
using DataType = ModelCompiler.Onnx.Proto.TensorProto.Types.DataType;

namespace ModelCompiler.Onnx.Tests;

/// <summary>
/// Impossible tensors are MC1009 (MC1003 for a declared external length) at load, naming the tensor, before any of modelc's own reads (these used to end as
/// ArgumentOutOfRangeException or OverflowException in a later stage). Each case edits one tensor of a valid model.
/// </summary>
public sealed class InitializerGuardTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static TensorProto W1(ModelProto m) => m.Graph.Initializer.Single(t => t.Name == "w1");
    private static TensorProto B(ModelProto m) => m.Graph.Initializer.Single(t => t.Name == "b");

    private static void SetDims(TensorProto t, params long[] dims)
    {
        t.Dims.Clear();
        t.Dims.AddRange(dims);
    }

    public static TheoryData<string, string, string> Cases => new()
    {
        { "negative dim", "w1", "MC1009" },
        { "negative dim with matching count", "w1", "MC1009" },
        { "zero dim with data", "w1", "MC1009" },
        { "element count overflows", "w1", "MC1009" },
        { "byte size overflows", "w1", "MC1009" },
        { "raw data one byte short", "w1", "MC1009" },
        { "raw data one byte long", "w1", "MC1009" },
        { "raw data of the wrong shape", "w1", "MC1009" },
        { "float_data one value short", "b", "MC1009" },
        { "no data at all", "b", "MC1009" },
        { "undefined data type", "w1", "MC1009" },
        { "unknown data type", "w1", "MC1009" },
        { "string tensor with raw data", "b", "MC1009" },
        { "string tensor with too few strings", "b", "MC1009" },
        { "external length disagrees with dims", "w1", "MC1003" },
        { "external tensor too large to hold", "w1", "MC1009" },
        { "constant attribute tensor of the wrong size", "c_value", "MC1009" },
        { "subgraph tensor with a negative dim", "inner", "MC1009" },
        { "fp16 int32_data count wrong", "b", "MC1009" },
        { "complex64 float_data not doubled", "b", "MC1009" },
    };

    private static void Break(ModelProto m, string name)
    {
        switch (name)
        {
            case "negative dim": SetDims(W1(m), 16, -32); break;
            case "negative dim with matching count": SetDims(W1(m), -16, -32); break;
            case "zero dim with data": SetDims(W1(m), 0, 32); break;
            case "element count overflows": SetDims(W1(m), 1L << 32, 1L << 32); break;
            case "byte size overflows": SetDims(W1(m), 1L << 62); break;
            case "raw data one byte short": W1(m).RawData = ByteString.CopyFrom(W1(m).RawData.Span[..^1]); break;
            case "raw data one byte long": W1(m).RawData = ByteString.CopyFrom([.. W1(m).RawData.Span, 0]); break;
            case "raw data of the wrong shape": SetDims(W1(m), 16, 33); break;
            case "float_data one value short":
                B(m).RawData = ByteString.Empty;
                B(m).FloatData.AddRange(Enumerable.Repeat(0.5f, 31));
                break;
            case "no data at all": B(m).RawData = ByteString.Empty; break;
            case "undefined data type": W1(m).DataType = 0; break;
            case "unknown data type": W1(m).DataType = 99; break;
            case "string tensor with raw data": B(m).DataType = (int)DataType.String; break;
            case "string tensor with too few strings":
                B(m).DataType = (int)DataType.String;
                B(m).RawData = ByteString.Empty;
                B(m).StringData.Add(ByteString.CopyFromUtf8("one"));
                break;
            case "external length disagrees with dims":
                ToExternal(W1(m), "w1.bin", 2047);
                break;
            case "external tensor too large to hold":
                ToExternal(W1(m), "w1.bin", null);
                SetDims(W1(m), 1L << 30, 4);
                break;
            case "constant attribute tensor of the wrong size":
                SetDims(m.Graph.Node.Single(n => n.OpType == "Constant").Attribute[0].T, 24, 13);
                break;
            case "subgraph tensor with a negative dim":
                var inner = TensorData.Floats("inner", [1f, 2f], 2);
                SetDims(inner, -2);
                var body = new GraphProto { Name = "then" };
                body.Initializer.Add(inner);
                var node = new NodeProto { OpType = "If", Name = "if" };
                node.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = body });
                m.Graph.Node.Add(node);
                break;
            case "fp16 int32_data count wrong":
                B(m).DataType = (int)DataType.Float16;
                B(m).RawData = ByteString.Empty;
                B(m).Int32Data.AddRange(Enumerable.Repeat(0x3C00, 33));
                break;
            case "complex64 float_data not doubled":
                B(m).DataType = (int)DataType.Complex64;
                B(m).RawData = ByteString.Empty;
                B(m).FloatData.AddRange(Enumerable.Repeat(1f, 32));
                break;
            default: throw new ArgumentException(name);
        }
    }

    private static void ToExternal(TensorProto t, string location, long? length)
    {
        t.RawData = ByteString.Empty;
        t.DataLocation = TensorProto.Types.DataLocation.External;
        t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
        if (length is { } n) t.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = n.ToString(System.Globalization.CultureInfo.InvariantCulture) });
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ImpossibleTensor_IsRefusedAtLoad_NamingIt_AndTheFileIsUntouched(string breakage, string tensorName, string code)
    {
        var model = TestModels.Mlp();
        Break(model, breakage);
        var path = _dir.File("broken.onnx");
        TestModels.WriteRaw(model, path);
        // The external cases get a data file long enough for any declared length, so only the guard can refuse them.
        File.WriteAllBytes(_dir.File("w1.bin"), new byte[4096]);
        var before = File.ReadAllBytes(path);

        var e = Assert.Throws<ModelCompilerException>(() => OnnxModelIO.Load(path));

        Assert.Equal(code, e.Code);
        Assert.Equal(path, e.File);
        Assert.Contains($"tensor '{tensorName}'", e.Message, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(["broken.onnx", "w1.bin"], Directory.GetFiles(_dir.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    public static TheoryData<string> ValidCases => new()
    {
        "empty tensor", "float_data", "string_data", "scalar", "int64_data", "external exact length",
    };

    [Theory]
    [MemberData(nameof(ValidCases))]
    public void PossibleTensor_Loads(string variant)
    {
        var model = TestModels.Mlp();
        var b = B(model);
        long expectedBytes = 128;
        switch (variant)
        {
            case "empty tensor": SetDims(b, 0, 32); b.RawData = ByteString.Empty; expectedBytes = 0; break;
            case "float_data": b.RawData = ByteString.Empty; b.FloatData.AddRange(Enumerable.Range(0, 32).Select(i => (float)i)); break;
            case "string_data":
                b.DataType = (int)DataType.String; b.RawData = ByteString.Empty; SetDims(b, 2);
                b.StringData.Add(ByteString.CopyFromUtf8("a")); b.StringData.Add(ByteString.CopyFromUtf8("b"));
                expectedBytes = 0;
                break;
            case "scalar": SetDims(b); b.RawData = ByteString.CopyFrom(new byte[4]); expectedBytes = 4; break;
            case "int64_data": b.DataType = (int)DataType.Int64; b.RawData = ByteString.Empty; b.Int64Data.AddRange(Enumerable.Range(0, 32).Select(i => (long)i)); expectedBytes = 256; break;
            case "external exact length":
                File.WriteAllBytes(_dir.File("b.bin"), W1(TestModels.Mlp()).RawData.Span[..128].ToArray());
                ToExternal(b, "b.bin", 128);
                break;
        }
        var path = _dir.File("ok.onnx");
        TestModels.WriteRaw(model, path);

        var loaded = OnnxModelIO.Load(path);

        var tensor = loaded.Graph.Initializer.Single(t => t.Name == "b");
        Assert.Equal(expectedBytes, InitializerGuard.Check(tensor, path));
        if (variant == "external exact length")
            Assert.Equal(File.ReadAllBytes(_dir.File("b.bin")), tensor.RawData.ToByteArray());
    }

    [Fact]
    public void DuplicateMetadataKey_IsMC1002_NamingTheKey()
    {
        var model = TestModels.Mlp();
        model.MetadataProps.Add(new StringStringEntryProto { Key = "k", Value = "other" });
        var path = _dir.File("dup.onnx");
        TestModels.WriteRaw(model, path);
        var e = Assert.Throws<ModelCompilerException>(() => OnnxModelIO.Load(path));
        Assert.Equal("MC1002", e.Code);
        Assert.Contains("metadata key 'k'", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("input")]
    [InlineData("output")]
    public void DuplicateGraphInputOrOutputName_IsMC1002_NamingIt(string side)
    {
        // Found by the ONNX fuzzer: a second graph output named 'logits' crashed the decoder contract's lookup.
        var model = TestModels.Mlp();
        var list = side == "input" ? model.Graph.Input : model.Graph.Output;
        list.Add(list[0].Clone());
        var path = _dir.File("dup-" + side + ".onnx");
        TestModels.WriteRaw(model, path);
        var e = Assert.Throws<ModelCompilerException>(() => OnnxModelIO.Load(path));
        Assert.Equal("MC1002", e.Code);
        Assert.Contains($"graph {side} name '{list[0].Name}' appears more than once", e.Message, StringComparison.Ordinal);
    }
}

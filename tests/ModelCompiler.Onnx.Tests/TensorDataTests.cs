using Google.Protobuf;
using ModelCompiler.Onnx.Proto;
using DataType = ModelCompiler.Onnx.Proto.TensorProto.Types.DataType;

namespace ModelCompiler.Onnx.Tests;

public sealed class TensorDataTests
{
    [Fact]
    public void Floats_AreLittleEndianRawData()
    {
        var t = TensorData.Floats("f", [1f, -2.5f], 2);
        Assert.Equal((int)DataType.Float, t.DataType);
        Assert.Equal([2L], t.Dims);
        Assert.Equal(new byte[] { 0, 0, 0x80, 0x3F, 0, 0, 0x20, 0xC0 }, t.RawData.ToByteArray());
        Assert.Equal([1f, -2.5f], TensorData.ReadFloats(t));
        Assert.Equal(2, TensorData.ElementCount(t));
    }

    [Fact]
    public void ReadFloats_ReadsTypedFieldsAndOtherFloatTypes()
    {
        var typed = new TensorProto { Name = "t", DataType = (int)DataType.Float, FloatData = { 3f, 4f } };
        Assert.Equal([3f, 4f], TensorData.ReadFloats(typed));

        var halves = TensorData.Halves("h", [(Half)0.5f, (Half)(-8f)], 2);
        Assert.Equal([0.5f, -8f], TensorData.ReadFloats(halves));

        var doubles = new TensorProto { Name = "d", DataType = (int)DataType.Double, DoubleData = { 1.25, 2.5 } };
        Assert.Equal([1.25f, 2.5f], TensorData.ReadFloats(doubles));

        var ints = TensorData.Int64s("i", [1, 2], 2);
        Assert.Throws<InvalidOperationException>(() => TensorData.ReadFloats(ints));
    }

    [Fact]
    public void ReadFloats_RefusesAnUnresolvedExternalTensor()
    {
        var t = TestModels.WithExternalTensor("w.bin").Graph.Initializer[0];
        Assert.Throws<InvalidOperationException>(() => TensorData.ReadFloats(t));
    }

    [Fact]
    public void IntegerTensors()
    {
        Assert.Equal([-3L, 1L << 40], TensorData.ReadInt64s(TensorData.Int64s("i", [-3, 1L << 40], 2)));
        Assert.Equal([7L], TensorData.ReadInt64s(TensorData.Scalar("s", 7L)));
        Assert.Empty(TensorData.Scalar("s", 7L).Dims);
        var i32 = new TensorProto { Name = "i", DataType = (int)DataType.Int32, Int32Data = { 5, -6 } };
        Assert.Equal([5L, -6L], TensorData.ReadInt64s(i32));
        Assert.Equal(new byte[] { 0xFF, 0x01 }, TensorData.ReadBytes(TensorData.Int8s("q", [-1, 1], 2)));
        Assert.Equal(new byte[] { 200 }, TensorData.ReadBytes(TensorData.UInt8s("u", [200], 1)));
    }

    [Theory]
    [InlineData(DataType.Float, 4)]
    [InlineData(DataType.Float16, 2)]
    [InlineData(DataType.Int8, 1)]
    [InlineData(DataType.Int64, 8)]
    [InlineData(DataType.String, -1)]
    public void ElementSize(DataType type, int size) => Assert.Equal(size, TensorData.ElementSize(type));

    [Fact]
    public void Attributes()
    {
        var node = TestModels.Node("Softmax", "s", ["x"], ["y"]);
        node.Attribute.Add(Attr.Int("axis", -1));
        node.Attribute.Add(Attr.Ints("perm", 0, 2, 1));
        node.Attribute.Add(Attr.String("mode", "é"));
        Assert.Equal(-1, Attr.GetInt(node, "axis", 5));
        Assert.Equal(5, Attr.GetInt(node, "missing", 5));
        Assert.Equal([0L, 2L, 1L], Attr.Find(node, "perm")!.Ints);
        Assert.Equal(ByteString.CopyFromUtf8("é"), Attr.Find(node, "mode")!.S);
        Assert.Equal(AttributeProto.Types.AttributeType.Int, Attr.Find(node, "axis")!.Type);
        Assert.Null(Attr.Find(node, "missing"));
    }
}

using System.Text;
using Google.Protobuf;
using ModelCompiler.Onnx.Proto;
using AttrType = ModelCompiler.Onnx.Proto.AttributeProto.Types.AttributeType;

namespace ModelCompiler.Onnx;

/// <summary>Short constructors and readers for node attributes.</summary>
public static class Attr
{
    public static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttrType.Int, I = value };
    public static AttributeProto Float(string name, float value) => new() { Name = name, Type = AttrType.Float, F = value };
    public static AttributeProto String(string name, string value) => new() { Name = name, Type = AttrType.String, S = ByteString.CopyFrom(value, Encoding.UTF8) };
    public static AttributeProto Tensor(string name, TensorProto value) => new() { Name = name, Type = AttrType.Tensor, T = value };

    public static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttrType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    public static AttributeProto? Find(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name);

    public static long GetInt(NodeProto node, string name, long fallback) => Find(node, name) is { } a ? a.I : fallback;
}

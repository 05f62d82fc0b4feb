using Google.Protobuf;
using ModelCompiler.Onnx.Proto;
using DataType = ModelCompiler.Onnx.Proto.TensorProto.Types.DataType;

namespace ModelCompiler.Onnx.Tests;

/// <summary>Small hand-built models for the IO tests.</summary>
internal static class TestModels
{
    /// <summary>Deterministic, non-trivial float values (no two tensors alike).</summary>
    public static float[] Values(int count, int seed)
    {
        var random = new Random(seed);
        var v = new float[count];
        for (var i = 0; i < v.Length; i++) v[i] = (float)(random.NextDouble() * 2 - 1);
        return v;
    }

    /// <summary>
    /// y = Relu(x @ w1 + b) @ w2 + c, where c is a Constant node's attribute tensor. w1 and w2 are big enough
    /// to be stored externally (≥ 1024 bytes), b is small and stays inline.
    /// </summary>
    public static ModelProto Mlp()
    {
        var g = new GraphProto { Name = "mlp" };
        g.Input.Add(Info("x", 1, 16));
        g.Output.Add(Info("y", 1, 24));
        g.Initializer.Add(TensorData.Floats("w1", Values(16 * 32, 1), 16, 32));   // 2048 bytes
        g.Initializer.Add(TensorData.Floats("b", Values(32, 2), 32));             // 128 bytes
        g.Initializer.Add(TensorData.Floats("w2", Values(32 * 24, 3), 32, 24));   // 3072 bytes
        var constant = new NodeProto { OpType = "Constant", Name = "c_const" };
        constant.Output.Add("c");
        constant.Attribute.Add(Attr.Tensor("value", TensorData.Floats("c_value", Values(24 * 12, 4), 24 * 12))); // 1152 bytes
        g.Node.Add(constant);
        g.Node.Add(Node("MatMul", "mm1", ["x", "w1"], ["h"]));
        g.Node.Add(Node("Add", "add_b", ["h", "b"], ["hb"]));
        g.Node.Add(Node("Relu", "relu", ["hb"], ["r"]));
        g.Node.Add(Node("MatMul", "mm2", ["r", "w2"], ["z"]));
        g.Node.Add(Node("Slice0", "pick_c", ["c"], ["c24"]));
        g.Node.Add(Node("Add", "add_c", ["z", "c24"], ["y"]));
        var model = new ModelProto { IrVersion = 8, ProducerName = "tests", Graph = g };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        model.MetadataProps.Add(new StringStringEntryProto { Key = "k", Value = "v" });
        return model;
    }

    public static NodeProto Node(string op, string name, string[] inputs, string[] outputs)
    {
        var n = new NodeProto { OpType = op, Name = name };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        return n;
    }

    public static ValueInfoProto Info(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float, Shape = shape } },
        };
    }

    /// <summary>A model whose only initializer "w" (16 floats) is stored in <paramref name="location"/>.</summary>
    public static ModelProto WithExternalTensor(string location, long offset = 0, long length = 64)
    {
        var model = new ModelProto { IrVersion = 8, Graph = new GraphProto { Name = "ext" } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        var t = new TensorProto { Name = "w", DataType = (int)DataType.Float, DataLocation = TensorProto.Types.DataLocation.External };
        t.Dims.Add(16);
        t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
        t.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        t.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = length.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        model.Graph.Initializer.Add(t);
        model.Graph.Output.Add(Info("w", 16));
        return model;
    }

    public static void WriteRaw(ModelProto model, string path) => File.WriteAllBytes(path, model.ToByteArray());
}

/// <summary>A temporary folder for one test, removed afterwards.</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; } = ModelCompiler.Tests.TestPaths.NewTempDir("mc-onnx");

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

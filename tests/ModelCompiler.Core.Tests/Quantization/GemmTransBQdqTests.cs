using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using ModelCompiler.Onnx;
using ModelCompiler.Onnx.Proto;
using ModelCompiler.Quantization;
using ModelCompiler.Transforms;
using DataType = ModelCompiler.Onnx.Proto.TensorProto.Types.DataType;

namespace ModelCompiler.Core.Tests.Quantization;

/// <summary>
/// Gemm with transB = 1 (GPT-2 converters and torch Linear exports store the weight [out, in]): discovered with
/// the right in/out sizes, QDQ-quantized per output channel on axis 0, and the result runs in ONNX Runtime close
/// to a plain-loop fp32 reference.
/// </summary>
public sealed class GemmTransBQdqTests
{
    private const int Rows = 3, In = 8, Out = 4;

    private static (float[] A, float[] B, float[] C) Data()
    {
        var rng = new Random(7);
        float Next() => (float)(rng.NextDouble() * 2 - 1);
        return (Enumerable.Range(0, Rows * In).Select(_ => Next()).ToArray(),
                Enumerable.Range(0, Out * In).Select(i => Next() * (1 + i / In)).ToArray(), // channels of different scale
                Enumerable.Range(0, Out).Select(_ => Next()).ToArray());
    }

    private static ModelProto Model(float[] b, float[] c)
    {
        var g = new GraphProto { Name = "gemm-transb" };
        g.Input.Add(TensorInfo.Of("x", DataType.Float, Rows, In));
        g.Output.Add(TensorInfo.Of("y", DataType.Float, Rows, Out));
        g.Initializer.Add(TensorData.Floats("fc.weight", b, Out, In));
        g.Initializer.Add(TensorData.Floats("fc.bias", c, Out));
        new OnnxGraph(g).AddNode("Gemm", ["x", "fc.weight", "fc.bias"], ["y"], "fc", Attr.Int("transB", 1));
        var model = new ModelProto { IrVersion = 8, Graph = g };
        model.OpsetImport.Add(new OperatorSetIdProto { Version = 17 });
        return model;
    }

    private static float[] Run(ModelProto model, float[] a)
    {
        using var session = new InferenceSession(model.ToByteArray());
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(a, [Rows, In]))]);
        return results[0].AsTensor<float>().ToArray();
    }

    [Fact]
    public void Gemm_transB_is_found_quantized_on_axis_0_and_runs_close_to_fp32()
    {
        var (a, b, c) = Data();
        var reference = new float[Rows * Out];
        for (var i = 0; i < Rows; i++)
            for (var o = 0; o < Out; o++)
            {
                double s = c[o];
                for (var k = 0; k < In; k++) s += a[i * In + k] * b[o * In + k];
                reference[i * Out + o] = (float)s;
            }

        var model = Model(b, c);
        Assert.Equal(reference, Run(model, a), new ToleranceComparer(1e-5f)); // the fp32 graph is the loop

        var graph = new OnnxGraph(model.Graph);
        var layer = Assert.Single(LayerDiscovery.Find(graph));
        Assert.True(layer.GemmTransB);
        Assert.Equal((In, Out), (layer.InFeatures, layer.OutFeatures));
        Assert.Equal("fc", layer.Name);

        QdqInt8Transform.Apply(graph, [layer], _ => (a.Min(), a.Max()));
        var gemm = model.Graph.Node.Single(n => n.OpType == "Gemm");
        var dqWeight = model.Graph.Node.Single(n => n.Output.Contains(gemm.Input[1]));
        Assert.Equal("DequantizeLinear", dqWeight.OpType);
        Assert.Equal(0, Attr.GetInt(dqWeight, "axis", -1)); // [out, in]: output channels are axis 0
        Assert.Equal(Out, TensorData.ElementCount(model.Graph.Initializer.Single(t => t.Name == dqWeight.Input[1])));

        var quantized = Run(model, a);
        var peak = reference.Max(Math.Abs);
        for (var i = 0; i < reference.Length; i++)
            Assert.True(Math.Abs(quantized[i] - reference[i]) <= 0.02f * peak, $"y[{i}] = {quantized[i]}, fp32 {reference[i]}");
        Assert.NotEqual(reference, quantized); // it really is the INT8 path
    }

    private sealed class ToleranceComparer(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => Math.Abs(x - y) <= tolerance;
        public int GetHashCode(float obj) => 0;
    }
}

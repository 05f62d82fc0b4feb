using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using ModelCompiler.Onnx;
using ModelCompiler.Onnx.Proto;
using ModelCompiler.Quantization;
using ModelCompiler.Tests;
using ModelCompiler.Transforms;
using ModelCompiler.Validation;
using DataType = ModelCompiler.Onnx.Proto.TensorProto.Types.DataType;

namespace ModelCompiler.Core.Tests.Quantization;

/// <summary>
/// QDQ INT8 on a MatMul that computes in fp16 (an fp16 export) and on graphs below opset 13: the graph's input and
/// output keep their types, ONNX Runtime runs the result close to a plain-loop reference, and the Q/DQ form is the
/// one the opset allows. The CPU fusion counts are the measurement behind target cpu's choice (docs/spec.md).
/// </summary>
public sealed class HalfPrecisionQdqTests
{
    private const int Rows = 4, In = 16, Out = 8;

    private static (float[] A, float[] W) Data()
    {
        var rng = new Random(11);
        float Next() => (float)(rng.NextDouble() * 2 - 1);
        // Values that fp16 holds exactly enough: the reference loop reads them back through Half.
        return (Enumerable.Range(0, Rows * In).Select(_ => (float)(Half)Next()).ToArray(),
                Enumerable.Range(0, In * Out).Select(i => (float)(Half)(Next() * (1 + i % Out))).ToArray()); // channels of different scale
    }

    private static ModelProto Model(DataType type, float[] w, long opset)
    {
        var g = new GraphProto { Name = "matmul" };
        g.Input.Add(TensorInfo.Of("x", type, Rows, In));
        g.Output.Add(TensorInfo.Of("y", type, Rows, Out));
        g.Initializer.Add(type switch
        {
            DataType.Float16 => TensorData.Halves("fc.weight", Array.ConvertAll(w, v => (Half)v), In, Out),
            DataType.Bfloat16 => TensorData.Create("fc.weight", (ReadOnlySpan<ushort>)Array.ConvertAll(w, v => (ushort)(BitConverter.SingleToUInt32Bits(v) >> 16)), [In, Out], DataType.Bfloat16),
            _ => TensorData.Floats("fc.weight", w, In, Out),
        });
        new OnnxGraph(g).AddNode("MatMul", ["x", "fc.weight"], ["y"], "fc");
        var model = new ModelProto { IrVersion = 7, Graph = g };
        model.OpsetImport.Add(new OperatorSetIdProto { Version = opset });
        return model;
    }

    private static float[] Run(ModelProto model, float[] a, DataType type)
    {
        using var session = new InferenceSession(model.ToByteArray());
        var input = session.InputMetadata["x"];
        Assert.Equal(type switch { DataType.Float16 => TensorElementType.Float16, DataType.Bfloat16 => TensorElementType.BFloat16, _ => TensorElementType.Float }, input.ElementDataType);
        Assert.Equal(input.ElementDataType, session.OutputMetadata["y"].ElementDataType); // types kept
        if (type == DataType.Bfloat16)
        {
            using var r = session.Run([NamedOnnxValue.CreateFromTensor("x", new DenseTensor<BFloat16>(a.Select(v => (BFloat16)v).ToArray(), [Rows, In]))]);
            return r[0].AsTensor<BFloat16>().Select(h => h.ToFloat()).ToArray();
        }
        if (type == DataType.Float16)
        {
            using var r = session.Run([NamedOnnxValue.CreateFromTensor("x", new DenseTensor<Float16>(a.Select(v => (Float16)v).ToArray(), [Rows, In]))]);
            return r[0].AsTensor<Float16>().Select(h => h.ToFloat()).ToArray();
        }
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(a, [Rows, In]))]);
        return results[0].AsTensor<float>().ToArray();
    }

    private static float[] Reference(float[] a, float[] w)
    {
        var y = new float[Rows * Out];
        for (var i = 0; i < Rows; i++)
            for (var o = 0; o < Out; o++)
            {
                double s = 0;
                for (var k = 0; k < In; k++) s += (double)a[i * In + k] * w[k * Out + o];
                y[i * Out + o] = (float)s;
            }
        return y;
    }

    private static ModelProto Quantize(DataType type, long opset, bool castHalfToFloat, float[] a, float[] w, out QdqForm form)
    {
        var model = Model(type, w, opset);
        var graph = new OnnxGraph(model.Graph);
        var layer = Assert.Single(LayerDiscovery.Find(graph));
        Assert.Equal(type, layer.ComputeType);
        form = QdqForm.For(model, [layer], castHalfToFloat);
        form.Import(model);
        QdqInt8Transform.Apply(graph, [layer], _ => (a.Min(), a.Max()), form);
        GraphCleanup.Run(graph);
        return model;
    }

    private static void AssertClose(float[] reference, float[] quantized)
    {
        var peak = reference.Max(Math.Abs);
        for (var i = 0; i < reference.Length; i++)
            Assert.True(Math.Abs(quantized[i] - reference[i]) <= 0.03f * peak, $"y[{i}] = {quantized[i]}, reference {reference[i]}");
        Assert.NotEqual(reference, quantized); // it really is the INT8 path
    }

    private static int? Fused(ModelProto model)
    {
        var dir = TestPaths.NewTempDir("mc-fp16-qdq");
        try
        {
            var path = Path.Combine(dir, "q.onnx");
            OnnxModelIO.Save(model, path);
            return FusionCheck.CountFusedInt8(path, dir);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Fp16_layer_for_cpu_is_fp32_qdq_between_casts_and_fuses_into_an_integer_kernel()
    {
        var (a, w) = Data();
        var model = Quantize(DataType.Float16, 14, castHalfToFloat: true, a, w, out var form);
        Assert.Equal("", form.Domain); // fp32 scales: ONNX QDQ-13 suffices
        var nodes = model.Graph.Node;
        Assert.Equal(["Cast", "Cast", "DequantizeLinear", "DequantizeLinear", "MatMul", "QuantizeLinear"], nodes.Select(n => n.OpType).Order());
        var up = nodes.Single(n => n.OpType == "Cast" && n.Input[0] == "x");
        Assert.Equal((long)DataType.Float, Attr.GetInt(up, "to", 0));
        Assert.Equal(up.Output[0], nodes.Single(n => n.OpType == "QuantizeLinear").Input[0]);
        var down = nodes.Single(n => n.OpType == "Cast" && n.Output[0] == "y");
        Assert.Equal((long)DataType.Float16, Attr.GetInt(down, "to", 0));
        Assert.Equal(nodes.Single(n => n.OpType == "MatMul").Output[0], down.Input[0]);
        Assert.All(model.Graph.Initializer.Where(t => t.Name.EndsWith("_scale", StringComparison.Ordinal)), t => Assert.Equal((int)DataType.Float, t.DataType));
        AssertClose(Reference(a, w), Run(model, a, DataType.Float16));
        Assert.Equal(1, Fused(model));
    }

    [Fact]
    public void Fp16_layer_for_cuda_keeps_fp16_with_fp16_scales_in_the_contrib_domain_below_opset_19()
    {
        var (a, w) = Data();
        var model = Quantize(DataType.Float16, 14, castHalfToFloat: false, a, w, out var form);
        Assert.Equal(QdqForm.MicrosoftDomain, form.Domain);
        Assert.Contains(model.OpsetImport, o => o.Domain == QdqForm.MicrosoftDomain);
        Assert.DoesNotContain(model.Graph.Node, n => n.OpType == "Cast");
        Assert.All(model.Graph.Node.Where(n => n.OpType is "QuantizeLinear" or "DequantizeLinear"), n => Assert.Equal(QdqForm.MicrosoftDomain, n.Domain));
        var scales = model.Graph.Initializer.Where(t => t.Name.EndsWith("_scale", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, scales.Count);
        Assert.All(scales, t => Assert.Equal((int)DataType.Float16, t.DataType));
        AssertClose(Reference(a, w), Run(model, a, DataType.Float16));
        // The measurement behind target cpu: ORT's CPU EP does not fuse QDQ with fp16 scales.
        Assert.Equal(0, Fused(model));
    }

    [Fact]
    public void Fp16_scales_at_opset_19_stay_in_the_onnx_domain()
    {
        var (a, w) = Data();
        var model = Quantize(DataType.Float16, 19, castHalfToFloat: false, a, w, out var form);
        Assert.Equal("", form.Domain);
        Assert.DoesNotContain(model.OpsetImport, o => o.Domain == QdqForm.MicrosoftDomain);
        AssertClose(Reference(a, w), Run(model, a, DataType.Float16));
    }

    [Fact]
    public void Bf16_layer_below_opset_19_is_fp32_qdq_between_casts_even_for_cuda()
    {
        // bf16 values (the top half of fp32): chosen so the reference loop reads exactly what the graph holds.
        var (a, w) = Data();
        static float Bf(float v) => BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(v) & 0xFFFF0000u);
        a = Array.ConvertAll(a, Bf);
        w = Array.ConvertAll(w, Bf);
        var model = Quantize(DataType.Bfloat16, 17, castHalfToFloat: false, a, w, out var form);
        Assert.True(form.CastHalfToFloat); // the contrib Q/DQ have no bf16 scales
        Assert.Equal("", form.Domain);
        var down = model.Graph.Node.Single(n => n.OpType == "Cast" && n.Output[0] == "y");
        Assert.Equal((long)DataType.Bfloat16, Attr.GetInt(down, "to", 0));
        var reference = Reference(a, w);
        var quantized = Run(model, a, DataType.Bfloat16);
        var peak = reference.Max(Math.Abs);
        for (var i = 0; i < reference.Length; i++) // bf16 output: 8 bits of mantissa on top of the INT8 error
            Assert.True(Math.Abs(quantized[i] - reference[i]) <= 0.03f * peak + Math.Abs(reference[i]) / 128, $"y[{i}] = {quantized[i]}, reference {reference[i]}");
    }

    [Fact]
    public void Fp32_layer_below_opset_13_gets_per_channel_weights_from_the_contrib_dequantize_and_fuses()
    {
        var (a, w) = Data();
        var model = Quantize(DataType.Float, 11, castHalfToFloat: true, a, w, out var form);
        Assert.Equal(QdqForm.MicrosoftDomain, form.Domain);
        Assert.Equal(11, model.OpsetImport.Single(o => o.Domain == "").Version); // the graph's own opset is untouched
        var dqWeight = model.Graph.Node.Single(n => n.OpType == "DequantizeLinear" && n.Input[0].EndsWith("weight_quantized", StringComparison.Ordinal));
        Assert.Equal(1, Attr.GetInt(dqWeight, "axis", -1));
        Assert.Equal(Out, TensorData.ElementCount(model.Graph.Initializer.Single(t => t.Name == dqWeight.Input[1])));
        AssertClose(Reference(a, w), Run(model, a, DataType.Float));
        Assert.Equal(1, Fused(model));
    }
}

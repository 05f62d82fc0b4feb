using ModelCompiler.Onnx;
using ModelCompiler.Quantization;
using DataType = ModelCompiler.Onnx.Proto.TensorProto.Types.DataType;

namespace ModelCompiler.Transforms;

/// <summary>
/// FP16 for layers that stay out of INT8: the weight is stored fp16 and the MatMul computes in fp16, with a
/// Cast to fp16 on the way in (shared by layers reading the same activation) and back to fp32 on the way out.
/// Everything between layers — RMSNorm reductions, softmax, the residual stream, rotary — stays fp32:
/// those are the numerically fragile parts, and graph inputs/outputs keep their types.
/// </summary>
public static class Fp16Transform
{
    public static void Apply(OnnxGraph root, IEnumerable<QuantizableLayer> layers)
    {
        var casts = new Dictionary<(OnnxGraph, string), string>(); // activation in its graph → its fp16 Cast
        // A layer of an fp16/bf16 export already computes in half precision, and an already quantized one stays as it is.
        foreach (var primary in layers.Where(l => l.ComputeType == DataType.Float && l.QuantizedWeight is null && !l.ActivationQuantized))
        {
            string? wName = null;
            // A layer's copies (the with-past branch of a merged decoder) read the same fp16 weight.
            foreach (var layer in primary.Sites)
            {
                var graph = layer.GraphIn(root);
                if (!casts.TryGetValue((graph, layer.ActivationInput), out var half))
                {
                    half = graph.UniqueName($"{layer.ActivationInput}_fp16");
                    graph.AddNode("Cast", [layer.ActivationInput], [half], graph.UniqueName($"{layer.ActivationInput}_Cast_fp16"), Attr.Int("to", (long)DataType.Float16));
                    casts[(graph, layer.ActivationInput)] = half;
                }

                if (wName is null)
                {
                    var w = primary.ReadWeightInOut(root);
                    if (primary.GemmTransB) w = TensorData.Transpose(w, (int)primary.InFeatures, (int)primary.OutFeatures);
                    var h = new Half[w.Length];
                    for (var i = 0; i < w.Length; i++) h[i] = (Half)w[i];
                    wName = root.UniqueName($"{primary.Name}.weight_fp16");
                    root.AddInitializer(primary.GemmTransB
                        ? TensorData.Halves(wName, h, primary.OutFeatures, primary.InFeatures)
                        : TensorData.Halves(wName, h, primary.InFeatures, primary.OutFeatures));
                }

                if (layer.Node.OpType == "Gemm" && layer.Node.Input.Count > 2 && layer.Node.Input[2].Length > 0)
                    layer.Node.Input[2] = CastBias(graph, layer.Node.Input[2], layer.Name);

                var output = layer.Node.Output[0];
                var halfOut = graph.UniqueName($"{output}_fp16");
                layer.Node.Input[0] = half;
                layer.Node.Input[1] = wName;
                layer.Node.Output[0] = halfOut;
                graph.AddNode("Cast", [halfOut], [output], graph.UniqueName($"{layer.Name}.output_Cast_fp32"), Attr.Int("to", (long)DataType.Float));
                graph.Invalidate();
            }
        }
    }

    private static string CastBias(OnnxGraph graph, string bias, string layer)
    {
        var name = graph.UniqueName($"{layer}.bias_fp16");
        graph.AddNode("Cast", [bias], [name], graph.UniqueName($"{layer}.bias_Cast_fp16"), Attr.Int("to", (long)DataType.Float16));
        return name;
    }
}

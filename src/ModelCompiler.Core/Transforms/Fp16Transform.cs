using ModelCompiler.Onnx;
using ModelCompiler.Onnx.Proto;
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
    /// <summary>
    /// FP16 on <paramref name="layers"/>: each node's Casts go into the graph it lives in, and a layer's copies (the
    /// with-past branch of a merged decoder) read the one fp16 weight, which goes into the main graph. Layers that
    /// already compute in half precision, or are already quantized, are left as they are.
    /// </summary>
    public static void Apply(OnnxGraph root, IEnumerable<QuantizableLayer> layers)
    {
        var casts = new Dictionary<(OnnxGraph, string), string>(); // activation in its graph → its fp16 Cast
        foreach (var primary in layers.Where(l => l.ComputeType == DataType.Float && l.QuantizedWeight is null && !l.ActivationQuantized))
        {
            string? wName = null;
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
                    // The node reads the stored layout unless a Transpose sat in between, which the fp16 weight replaces.
                    var source = graph.Initializer(primary.WeightInitializer)!;
                    var (rows, cols, transpose) = ((int)source.Dims[0], (int)source.Dims[1], primary.WeightTransposed);
                    wName = graph.UniqueName($"{primary.Name}.weight_fp16");
                    long[] dims = primary.GemmTransB ? [primary.OutFeatures, primary.InFeatures] : [primary.InFeatures, primary.OutFeatures];
                    graph.AddInitializer(Lazy(wName, dims, () =>
                    {
                        var w = TensorData.ReadFloats(source);
                        return HalfBytes(transpose ? Int8Weights.Transpose(w, rows, cols) : w, clampToFinite: false);
                    }));
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

    /// <summary>
    /// An fp16 tensor whose bytes <paramref name="halves"/> computes when the model is saved (see
    /// <see cref="ComputedTensorBytes"/>): the transformed model holds no converted weight in memory.
    /// </summary>
    internal static TensorProto Lazy(string name, long[] dims, Func<byte[]> halves)
    {
        var t = new TensorProto { Name = name, DataType = (int)DataType.Float16, Dims = { dims } };
        t.RawData = new ComputedTensorBytes(checked((int)(dims.Aggregate(1L, (a, d) => a * d) * 2)), halves).AsByteString();
        return t;
    }

    /// <summary>fp32 → fp16 bytes, round to nearest even; with <paramref name="clampToFinite"/> finite values beyond ±65504 become ±65504, not ±∞.</summary>
    internal static byte[] HalfBytes(float[] f, bool clampToFinite)
    {
        var bytes = new byte[f.Length * 2];
        var h = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, Half>(bytes.AsSpan());
        for (var i = 0; i < f.Length; i++)
            h[i] = clampToFinite && float.IsFinite(f[i]) ? (Half)Math.Clamp(f[i], -65504f, 65504f) : (Half)f[i];
        return bytes;
    }

    private static string CastBias(OnnxGraph graph, string bias, string layer)
    {
        var name = graph.UniqueName($"{layer}.bias_fp16");
        graph.AddNode("Cast", [bias], [name], graph.UniqueName($"{layer}.bias_Cast_fp16"), Attr.Int("to", (long)DataType.Float16));
        return name;
    }
}

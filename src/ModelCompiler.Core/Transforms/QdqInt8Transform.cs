using ModelCompiler.Calibration;
using ModelCompiler.Onnx;
using ModelCompiler.Onnx.Proto;
using ModelCompiler.Quantization;
using DataType = ModelCompiler.Onnx.Proto.TensorProto.Types.DataType;

namespace ModelCompiler.Transforms;

/// <summary>Static activation quantization parameters: uint8, asymmetric, per tensor.</summary>
public readonly record struct ActivationQuantParams(float Scale, byte ZeroPoint)
{
    /// <summary>Min/max calibration: the range always includes 0 so that 0 is exactly representable.</summary>
    public static ActivationQuantParams FromRange(float min, float max)
    {
        var lo = Math.Min(min, 0f);
        var hi = Math.Max(max, 0f);
        var scale = (hi - lo) / 255f;
        if (!(scale > 0) || !float.IsFinite(scale)) return new ActivationQuantParams(1f, 0);
        var zp = (int)MathF.Round(-lo / scale, MidpointRounding.ToEven);
        return new ActivationQuantParams(scale, (byte)Math.Clamp(zp, 0, 255));
    }
}

/// <summary>
/// How the Q/DQ nodes of one graph are written. <see cref="Domain"/>: "" (ONNX) or "com.microsoft", whose
/// QuantizeLinear/DequantizeLinear take the per-channel <c>axis</c> below opset 13 and fp16 scales below opset 19.
/// <see cref="CastHalfToFloat"/>: layers that compute in fp16/bf16 are quantized in fp32 between Casts (the form
/// ORT's CPU optimizer fuses into integer kernels) instead of with scales in their own type.
/// </summary>
public sealed record QdqForm(string Domain, bool CastHalfToFloat)
{
    public const string MicrosoftDomain = "com.microsoft";

    /// <summary>fp32 layers at opset ≥ 13: plain ONNX QDQ (every graph modelc's importer writes).</summary>
    public static QdqForm Default { get; } = new("", false);

    /// <summary>
    /// The form for <paramref name="model"/>'s <paramref name="layers"/>: ONNX Q/DQ wherever the opset has what they need
    /// (per-channel axis from 13, fp16 scales from 19), else the com.microsoft ones; fp16 layers keep fp16 scales
    /// unless <paramref name="castHalfToFloat"/> (target cpu, see docs/spec.md).
    /// </summary>
    public static QdqForm For(ModelProto model, IEnumerable<QuantizableLayer> layers, bool castHalfToFloat)
    {
        var opset = model.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx")?.Version ?? 0;
        // The contrib Q/DQ take fp16 scales but not bf16: below opset 19, bf16 layers are quantized in fp32 between Casts.
        if (opset < 19 && layers.Any(l => l.ComputeType == DataType.Bfloat16)) castHalfToFloat = true;
        var halfScales = !castHalfToFloat && layers.Any(l => l.ComputeType != DataType.Float);
        var onnxSuffices = opset >= (halfScales ? 19 : 13);
        return new QdqForm(onnxSuffices ? "" : MicrosoftDomain, castHalfToFloat);
    }

    /// <summary>Adds the com.microsoft opset import when this form uses it and the model lacks it.</summary>
    public void Import(ModelProto model)
    {
        if (Domain.Length == 0 || model.OpsetImport.Any(o => o.Domain == Domain)) return;
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = Domain, Version = 1 });
    }
}

/// <summary>
/// QDQ INT8 on the chosen layers, in the form ONNX Runtime's CPU optimizer fuses into QLinearMatMul /
/// MatMulIntegerToFloat: activation QuantizeLinear→DequantizeLinear (uint8 asymmetric per tensor, static
/// scale from calibration) and the weight as an int8 symmetric per-output-channel initializer behind
/// DequantizeLinear(axis). int8 activations are not fused by ORT CPU and run slower than fp32.
/// Layers computing in fp16/bf16 get scales in their own type, or (<see cref="QdqForm.CastHalfToFloat"/>) a Cast
/// to fp32 before the QuantizeLinear and back after the MatMul; the tensors around them keep their types.
/// </summary>
public static class QdqInt8Transform
{
    public sealed record Int8LayerInfo(string Layer, ActivationQuantParams Activation, string WeightInitializer, double WeightScaleMin, double WeightScaleMax);

    /// <summary>With min/max activation ranges.</summary>
    public static IReadOnlyList<Int8LayerInfo> Apply(OnnxGraph graph, IEnumerable<QuantizableLayer> layers, CalibrationResult calibration) =>
        Apply(graph, layers, l => { var s = calibration.For(l); return (s.Min, s.Max); });

    /// <summary>With each layer's activation range from <paramref name="range"/> (a calibration method's estimate).</summary>
    /// <remarks>
    /// A layer's copies (the with-past branch of a merged decoder) get the same parameters and read the same INT8 weight;
    /// each node's Q/DQ nodes go into the graph the node lives in, their initializers into the main graph. A layer whose
    /// weight is already quantized (DequantizeLinear on an integer initializer) keeps that weight as it is, and one whose
    /// input already comes from a DequantizeLinear gets no second activation quantization.
    /// </remarks>
    public static IReadOnlyList<Int8LayerInfo> Apply(OnnxGraph root, IEnumerable<QuantizableLayer> layers, Func<QuantizableLayer, (float Min, float Max)> range,
        QdqForm? form = null)
    {
        form ??= QdqForm.Default;
        var infos = new List<Int8LayerInfo>();
        var quantized = new Dictionary<(OnnxGraph, string), string>(); // activation in its graph → Q output
        var upcast = new Dictionary<(OnnxGraph, string), string>(); // fp16/bf16 activation in its graph → its fp32 Cast
        foreach (var primary in layers)
        {
            var (lo, hi) = range(primary);
            var act = ActivationQuantParams.FromRange(lo, hi);
            var baseName = primary.Name;
            // An already quantized weight dequantizes to the layer's own type: its activation is quantized in that type too.
            var cast = form.CastHalfToFloat && primary.ComputeType != DataType.Float && primary.QuantizedWeight is null;
            var scaleType = cast ? DataType.Float : primary.ComputeType;

            // The weight once per layer, made where its first node needs it (so names and initializers come in the order
            // of a graph without copies); an already quantized weight is kept.
            string? wName = null, wScale = null, wZp = null;
            float[] scales = [];
            long axis = 1;
            if (primary.QuantizedWeight is { } existing)
            {
                wName = primary.WeightInitializer;
                scales = TensorData.ReadFloats(QuantizableLayer.Tensor(root, existing.Scale, primary.WeightGraph)!);
            }

            foreach (var layer in primary.Sites)
            {
                var graph = layer.GraphIn(root);
                if (!layer.ActivationQuantized)
                {
                    var input = layer.ActivationInput;
                    if (cast && !upcast.TryGetValue((graph, input), out input))
                    {
                        input = graph.UniqueName($"{layer.ActivationInput}_fp32");
                        graph.AddNode("Cast", [layer.ActivationInput], [input], graph.UniqueName($"{layer.ActivationInput}_Cast_fp32"), Attr.Int("to", (long)DataType.Float));
                        upcast[(graph, layer.ActivationInput)] = input;
                    }
                    if (!quantized.TryGetValue((graph, input), out var qOut))
                    {
                        var scaleName = graph.UniqueName($"{layer.ActivationInput}_scale");
                        var zpName = graph.UniqueName($"{layer.ActivationInput}_zero_point");
                        graph.AddInitializer(Scales(scaleName, [act.Scale], scaleType));
                        graph.AddInitializer(TensorData.UInt8s(zpName, [act.ZeroPoint]));
                        qOut = graph.UniqueName($"{layer.ActivationInput}_quantized");
                        AddQdqNode(graph, form, "QuantizeLinear", [input, scaleName, zpName], qOut, graph.UniqueName($"{layer.ActivationInput}_QuantizeLinear"));
                        quantized[(graph, input)] = qOut;
                    }
                    // One DequantizeLinear per consumer, so each MatMul forms its own QDQ node unit.
                    var q = graph.Producer(qOut)!;
                    var dqAct = graph.UniqueName($"{baseName}.input_dequantized");
                    AddQdqNode(graph, form, "DequantizeLinear", [qOut, q.Input[1], q.Input[2]], dqAct, graph.UniqueName($"{baseName}.input_DequantizeLinear"));
                    layer.Node.Input[0] = dqAct;
                }
                if (primary.QuantizedWeight is not null)
                {
                    graph.Invalidate(); // the weight's own DequantizeLinear stays
                    continue;
                }

                if (wName is null)
                {
                    wName = graph.UniqueName($"{baseName}.weight_quantized");
                    wScale = graph.UniqueName($"{baseName}.weight_scale");
                    wZp = graph.UniqueName($"{baseName}.weight_zero_point");
                    (var wq, scales, axis) = Int8Weights.ForLayer(graph, primary, wName);
                    graph.AddInitializer(wq);
                    graph.AddInitializer(Scales(wScale, scales, scaleType, scales.Length));
                    graph.AddInitializer(TensorData.Int8s(wZp, new sbyte[scales.Length], scales.Length));
                }
                var dqW = graph.UniqueName($"{baseName}.weight_dequantized");
                AddQdqNode(graph, form, "DequantizeLinear", [wName, wScale!, wZp!], dqW, graph.UniqueName($"{baseName}.weight_DequantizeLinear"), Attr.Int("axis", axis));

                layer.Node.Input[1] = dqW;
                if (cast)
                {
                    if (layer.Node.OpType == "Gemm" && layer.Node.Input.Count > 2 && layer.Node.Input[2].Length > 0)
                    {
                        var bias = graph.UniqueName($"{baseName}.bias_fp32");
                        graph.AddNode("Cast", [layer.Node.Input[2]], [bias], graph.UniqueName($"{baseName}.bias_Cast_fp32"), Attr.Int("to", (long)DataType.Float));
                        layer.Node.Input[2] = bias;
                    }
                    var output = layer.Node.Output[0];
                    var floatOut = graph.UniqueName($"{output}_fp32");
                    layer.Node.Output[0] = floatOut;
                    graph.AddNode("Cast", [floatOut], [output], graph.UniqueName($"{baseName}.output_Cast"), Attr.Int("to", (long)layer.ComputeType));
                }
                graph.Invalidate();
            }
            infos.Add(new Int8LayerInfo(primary.Name, act, wName!, scales.Min(), scales.Max()));
        }
        return infos;
    }

    private static void AddQdqNode(OnnxGraph graph, QdqForm form, string op, string[] inputs, string output, string name, params AttributeProto[] attributes)
    {
        var node = graph.AddNode(op, inputs, [output], name, attributes);
        if (form.Domain.Length > 0) node.Domain = form.Domain;
    }

    /// <summary>Scales in the type the layer computes in (Q/DQ take x and its scale in one type).</summary>
    private static TensorProto Scales(string name, float[] values, DataType type, params long[] dims) => type switch
    {
        DataType.Float => TensorData.Floats(name, values, dims),
        DataType.Float16 => TensorData.Halves(name, Array.ConvertAll(values, v => (Half)v), dims),
        DataType.Bfloat16 => TensorData.Create(name, (ReadOnlySpan<ushort>)Array.ConvertAll(values, ToBFloat16Bits), dims, DataType.Bfloat16),
        _ => throw new InvalidOperationException($"layer computes in {type}; INT8 needs a float32, float16 or bfloat16 layer"),
    };

    /// <summary>fp32 → bfloat16 bits, round to nearest even.</summary>
    private static ushort ToBFloat16Bits(float v)
    {
        var bits = BitConverter.SingleToUInt32Bits(v);
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }
}

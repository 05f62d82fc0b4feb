using ModelCompiler.Calibration;
using ModelCompiler.Onnx;
using ModelCompiler.Onnx.Proto;
using ModelCompiler.Quantization;

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
/// QDQ INT8 on the chosen layers, in the form ONNX Runtime's CPU optimizer fuses into QLinearMatMul /
/// MatMulIntegerToFloat: activation QuantizeLinear→DequantizeLinear (uint8 asymmetric per tensor, static
/// scale from calibration) and the weight as an int8 symmetric per-output-channel initializer behind
/// DequantizeLinear(axis). int8 activations are not fused by ORT CPU and run slower than fp32.
/// </summary>
public static class QdqInt8Transform
{
    public sealed record Int8LayerInfo(string Layer, ActivationQuantParams Activation, string WeightInitializer, double WeightScaleMin, double WeightScaleMax);

    /// <summary>With min/max activation ranges.</summary>
    public static IReadOnlyList<Int8LayerInfo> Apply(OnnxGraph graph, IEnumerable<QuantizableLayer> layers, CalibrationResult calibration) =>
        Apply(graph, layers, l => { var s = calibration.For(l); return (s.Min, s.Max); });

    /// <summary>With each layer's activation range from <paramref name="range"/> (a calibration method's estimate).</summary>
    public static IReadOnlyList<Int8LayerInfo> Apply(OnnxGraph graph, IEnumerable<QuantizableLayer> layers, Func<QuantizableLayer, (float Min, float Max)> range)
    {
        var infos = new List<Int8LayerInfo>();
        var quantized = new Dictionary<string, string>(StringComparer.Ordinal); // activation → Q output
        foreach (var layer in layers)
        {
            var (lo, hi) = range(layer);
            var act = ActivationQuantParams.FromRange(lo, hi);
            var baseName = layer.Name;

            if (!quantized.TryGetValue(layer.ActivationInput, out var qOut))
            {
                var scaleName = graph.UniqueName($"{layer.ActivationInput}_scale");
                var zpName = graph.UniqueName($"{layer.ActivationInput}_zero_point");
                graph.AddInitializer(TensorData.Floats(scaleName, [act.Scale]));
                graph.AddInitializer(TensorData.UInt8s(zpName, [act.ZeroPoint]));
                qOut = graph.UniqueName($"{layer.ActivationInput}_quantized");
                graph.AddNode("QuantizeLinear", [layer.ActivationInput, scaleName, zpName], [qOut], graph.UniqueName($"{layer.ActivationInput}_QuantizeLinear"));
                quantized[layer.ActivationInput] = qOut;
            }
            // One DequantizeLinear per consumer, so each MatMul forms its own QDQ node unit.
            var q = graph.Producer(qOut)!;
            var dqAct = graph.UniqueName($"{baseName}.input_dequantized");
            graph.AddNode("DequantizeLinear", [qOut, q.Input[1], q.Input[2]], [dqAct], graph.UniqueName($"{baseName}.input_DequantizeLinear"));

            var (wq, scales) = QuantizeWeight(layer.ReadWeightInOut(graph), (int)layer.InFeatures, (int)layer.OutFeatures);
            var wName = graph.UniqueName($"{baseName}.weight_quantized");
            var wScale = graph.UniqueName($"{baseName}.weight_scale");
            var wZp = graph.UniqueName($"{baseName}.weight_zero_point");
            long axis = 1;
            if (layer.GemmTransB)
            {
                // Keep the node's [out, in] layout; channels are then axis 0.
                wq = TensorData.Transpose(wq, (int)layer.InFeatures, (int)layer.OutFeatures);
                graph.AddInitializer(TensorData.Int8s(wName, wq, layer.OutFeatures, layer.InFeatures));
                axis = 0;
            }
            else
            {
                graph.AddInitializer(TensorData.Int8s(wName, wq, layer.InFeatures, layer.OutFeatures));
            }
            graph.AddInitializer(TensorData.Floats(wScale, scales, scales.Length));
            graph.AddInitializer(TensorData.Int8s(wZp, new sbyte[scales.Length], scales.Length));
            var dqW = graph.UniqueName($"{baseName}.weight_dequantized");
            graph.AddNode("DequantizeLinear", [wName, wScale, wZp], [dqW], graph.UniqueName($"{baseName}.weight_DequantizeLinear"), Attr.Int("axis", axis));

            layer.Node.Input[0] = dqAct;
            layer.Node.Input[1] = dqW;
            graph.Invalidate();
            infos.Add(new Int8LayerInfo(layer.Name, act, wName, scales.Min(), scales.Max()));
        }
        return infos;
    }

    /// <summary>Symmetric int8 per output channel: scale_j = max_i |W[i,j]| / 127, q = round(W / scale) in [-127, 127].</summary>
    public static (sbyte[] Values, float[] Scales) QuantizeWeight(float[] wInOut, int inFeatures, int outFeatures)
    {
        var scales = new float[outFeatures];
        for (var i = 0; i < inFeatures; i++)
            for (var j = 0; j < outFeatures; j++)
                scales[j] = Math.Max(scales[j], MathF.Abs(wInOut[i * outFeatures + j]));
        for (var j = 0; j < outFeatures; j++)
            scales[j] = scales[j] > 0 ? scales[j] / 127f : 1f;
        var q = new sbyte[wInOut.Length];
        for (var i = 0; i < inFeatures; i++)
            for (var j = 0; j < outFeatures; j++)
                q[i * outFeatures + j] = (sbyte)Math.Clamp((int)MathF.Round(wInOut[i * outFeatures + j] / scales[j], MidpointRounding.ToEven), -127, 127);
        return (q, scales);
    }
}

using ModelCompiler.Calibration;
using ModelCompiler.Onnx;
using ModelCompiler.Quantization;

namespace ModelCompiler.Policies;

/// <summary>One <see cref="LayerCandidate"/> per layer: calibration statistics, weight statistics, role and depth.</summary>
public static class CandidateBuilder
{
    public static IReadOnlyList<LayerCandidate> Build(OnnxGraph graph, IReadOnlyList<QuantizableLayer> layers, CalibrationResult calibration)
    {
        var roles = RoleInference.Infer(graph, layers);
        var depths = RoleInference.Depths(layers, roles);
        return layers.Select(l => new LayerCandidate(
            l,
            calibration.For(l).Summarize(),
            WeightStats.Compute(l.ReadWeightInOut(graph), (int)l.InFeatures, (int)l.OutFeatures),
            roles[l.Name],
            depths[l.Name])).ToList();
    }
}

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
        // Weight statistics read every weight once (1 GB for a 250M-parameter model): one layer per core. Each
        // layer's figures are computed by one thread in one order, so the result does not depend on the schedule.
        var weights = new WeightStats[layers.Count];
        _ = graph.Initializers; // built once here, not lazily by several threads
        Parallel.For(0, layers.Count, new ParallelOptions { MaxDegreeOfParallelism = Runtime.ComputeThreads.Count },
            i => weights[i] = WeightStats.Compute(layers[i].ReadWeightInOut(graph), (int)layers[i].InFeatures, (int)layers[i].OutFeatures));
        return layers.Select((l, i) => new LayerCandidate(
            l,
            calibration.For(l).Summarize(),
            weights[i],
            roles[l.Name],
            depths[l.Name])).ToList();
    }
}

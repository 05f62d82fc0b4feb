using System.Globalization;
using ModelCompiler.Policies;

namespace ModelCompiler.Compilation;

/// <summary>
/// <c>modelc sensitivity</c>: the ALMP data set for one model and spec. Calibrates as a compile does, then
/// quantizes each layer alone and measures the loss change on calibration tokens; one row per layer with its
/// features and the measured change. The label says whether the layer's own error stands out from the model's other
/// layers, measured as KL(fp32 ‖ only this layer INT8): more than <see cref="DefaultLabelKlRatio"/> times the mean
/// layer's, or more than <see cref="MedianKlRatio"/> times the median layer's. Relative to the model itself, so that it
/// means the same on a trained model whose KL is 1e-3 and on a random-weight model whose KL is 1e-8 (docs/predictor.md).
/// </summary>
public static class SensitivitySweep
{
    /// <summary>
    /// On stories260K, under eight calibration settings, twice the mean labels exactly the five down projections and
    /// lm_head every time (they measure 3-8 times the mean layer's KL, every other layer under 0.5 times).
    /// </summary>
    public const double DefaultLabelKlRatio = 2;

    /// <summary>
    /// The second test catches a milder outlier when one layer (often lm_head of a random-weight model) dominates the
    /// mean: thirty times the median is an outlier on a log scale, where stories260K's q/k/v/o/gate/up measure 0.3-3.
    /// </summary>
    public const double MedianKlRatio = 30;

    public sealed record Options(string ModelPath, string SpecPath, string OutputPath, string? Group, int ProbeTokens, double LabelKlRatio);

    /// <summary>Sensitive when the layer's KL exceeds <paramref name="ratio"/> times the mean or <see cref="MedianKlRatio"/> times the median KL of the layers.</summary>
    public static bool[] Labels(IReadOnlyList<double> kl, double ratio)
    {
        if (kl.Count == 0) return [];
        var mean = kl.Average();
        var sorted = kl.Order().ToArray();
        var median = sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : 0.5 * (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]);
        return kl.Select(k => k > ratio * mean || k > MedianKlRatio * median).ToArray();
    }

    public static IReadOnlyList<SensitivityRow> Run(Options o, ICompileReporter reporter)
    {
        var state = CompileStages.Load(new CompileOptions(o.ModelPath, o.SpecPath, o.OutputPath), reporter);
        try
        {
            CompileStages.Tokens(state);
            CompileStages.Calibrate(state);
            state.Candidates = CandidateBuilder.Build(state.Fp32Graph, state.Layers, state.Calibration);
            state.Probe = SensitivityProbe.Create(state, o.ProbeTokens);
            var context = new PolicyContext(state.Candidates, LayerPrecision.Fp32, state.Probe, CompileStages.Budget(state), new CompileStages.ReporterProgress(reporter));
            var measured = MeasuredPolicy.Sweep(context, state.Probe);
            var group = o.Group ?? Path.GetFileNameWithoutExtension(o.ModelPath);
            var labels = Labels(measured.Select(m => m.MeanKl).ToList(), o.LabelKlRatio);
            var rows = state.Candidates.Select((c, i) => new SensitivityRow(
                group, c.Name, LayerRoles.Name(c.Role), LayerFeatures.Of(c), measured[i].IncreasePct, measured[i].MeanKl, labels[i])).ToList();
            SensitivityTable.Write(Path.GetFullPath(o.OutputPath), rows);
            return rows;
        }
        finally
        {
            state.Dispose();
        }
    }

}

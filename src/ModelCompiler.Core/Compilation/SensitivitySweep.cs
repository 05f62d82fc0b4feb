using System.Globalization;
using ModelCompiler.Policies;

namespace ModelCompiler.Compilation;

/// <summary>
/// <c>modelc sensitivity</c>: the ALMP data set for one model and spec. Calibrates as a compile does, then
/// quantizes each layer alone and measures the loss change on calibration tokens; one row per layer with its
/// features and the measured change. The label is "INT8 alone raises perplexity by more than
/// <see cref="DefaultLabelThresholdPct"/> percent" (see docs/predictor.md for why that threshold).
/// </summary>
public static class SensitivitySweep
{
    /// <summary>
    /// On stories260K the probe's noise floor (layers whose INT8 error is far below the model's) is about
    /// ±0.04%; the down projections and lm_head measure 0.08-0.25%. 0.075% sits between the two.
    /// </summary>
    public const double DefaultLabelThresholdPct = 0.075;

    public sealed record Options(string ModelPath, string SpecPath, string OutputPath, string? Group, int ProbeTokens, double LabelThresholdPct);

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
            var rows = state.Candidates.Select((c, i) => new SensitivityRow(
                group, c.Name, LayerRoles.Name(c.Role), LayerFeatures.Of(c), measured[i].IncreasePct, measured[i].MeanKl,
                measured[i].IncreasePct > o.LabelThresholdPct)).ToList();
            SensitivityTable.Write(Path.GetFullPath(o.OutputPath), rows);
            return rows;
        }
        finally
        {
            state.Dispose();
        }
    }

}

using System.Globalization;
using System.Text;
using ModelCompiler.Policies;
using ModelCompiler.Validation;

namespace ModelCompiler.Compilation;

/// <summary>The Markdown report a person reads in a CI log: verdict, metrics against gates, providers, layers.</summary>
public static class ReportWriter
{
    public static string Write(CompileResult r)
    {
        var s = new StringBuilder();
        void L(FormattableString line) => s.Append(line.ToString(CultureInfo.InvariantCulture)).Append('\n');

        L($"# ModelCompiler report: {Path.GetFileName(r.Options.OutputPath)}");
        L($"");
        L($"**{(r.Passed ? "PASSED" : "FAILED")}** — {r.Int8Layers} of {r.Decisions.Count} layers INT8 ({r.Int8ParameterFraction:P1} of quantizable weights), policy `{r.Spec.Policy.Kind}`, fallback `{r.Spec.Fallback.Value.ToString().ToLowerInvariant()}`, target `{r.Spec.Target.Value.ToString().ToLowerInvariant()}`.");
        L($"");
        L($"Model `{Path.GetFileName(r.Options.ModelPath)}` → `{Path.GetFileName(r.Options.OutputPath)}`; weights {Mb(r.Fp32WeightBytes)} → {Mb(r.QuantizedWeightBytes)}; spec `{Path.GetFileName(r.Spec.SpecPath)}`; modelc {ToolInfo.Version}, ONNX Runtime {Runtime.ExecutionProviders.OrtVersion}.");
        L($"");

        L($"## Gates");
        L($"");
        if (r.Gates.Count == 0)
        {
            L($"No gates in the spec.");
        }
        else
        {
            L($"| gate | provider | limit | measured | result | spec line |");
            L($"|---|---|---:|---:|---|---:|");
            foreach (var g in r.Gates)
                L($"| `{g.Name}` | {g.Provider ?? "—"} | {g.Limit:G6} | {g.Measured:F4} | {(g.Passed ? "pass" : $"**FAIL** ({g.Code})")} | {g.Location.Line} |");
        }
        L($"");

        L($"## Validation ({r.EvaluationTokens} evaluation tokens)");
        L($"");
        L($"| provider | status | fp32 ppl | quantized ppl | increase | mean KL | top-1 agreement |");
        L($"|---|---|---:|---:|---:|---:|---:|");
        foreach (var p in r.Providers)
        {
            if (p.Status == ProviderStatus.Ok)
                L($"| {p.Provider} | ok | {p.Fp32Perplexity:F4} | {p.QuantizedPerplexity:F4} | {p.PerplexityIncreasePct:+0.000;-0.000}% | {p.MeanKlDivergence:F6} | {p.Top1Agreement:P2} |");
            else
                L($"| {p.Provider} | {p.Status.ToString().ToLowerInvariant()}: {Escape(p.Reason)} | | | | | |");
        }
        L($"");
        if (r.Int8FusedOnCpu is { } fused)
            L($"ONNX Runtime's CPU optimizer fused {fused} of {r.Int8Layers} INT8 layers into integer kernels (QLinearMatMul / MatMulIntegerToFloat){(fused < r.Int8Layers ? " — the rest run as DequantizeLinear + float MatMul" : "")}.");
        L($"");
        L($"Calibration: {r.Calibration.Tokens} tokens in {r.Calibration.Windows} windows, {Calibration.RangeEstimators.NameOf(r.Spec.CalibrationMethod.Method.Value)} ranges; activations uint8 asymmetric per tensor, weights int8 symmetric per output channel.");
        L($"");

        if (r.FallbackSteps.Count > 0)
        {
            L($"## Closed loop (gates.on_fail: fallback)");
            L($"");
            L($"| step | moved back | INT8 layers | perplexity increase | result |");
            L($"|---:|---|---:|---:|---|");
            foreach (var step in r.FallbackSteps)
                L($"| {step.Step} | {step.MovedBack.Count}: {Escape(string.Join(", ", step.MovedBack.Select(n => $"`{n}`")))} | {step.Int8Layers} | {step.PerplexityIncreasePct:+0.000;-0.000}% | {(step.Passed ? "pass" : $"fail ({step.FailedGate})")} |");
            L($"");
        }

        L($"## Layers");
        L($"");
        if (r.LayerPlotFile is not null)
        {
            L($"![spike score and predicted risk per layer]({r.LayerPlotFile})");
            L($"");
        }
        var kept = r.Decisions.Where(d => !d.IsInt8).ToList();
        if (kept.Count > 0)
        {
            L($"Kept in {r.Spec.Fallback.Value.ToString().ToLowerInvariant()}: {string.Join("; ", kept.Select(d => $"`{d.Layer.Name}` ({Escape(d.Evidence.Override ?? d.Evidence.Rule)})"))}.");
            L($"");
        }
        var candidates = r.Candidates.ToDictionary(c => c.Name, StringComparer.Ordinal);
        L($"| layer | role | shape | decision | evidence | predicted risk | measured Δ ppl | spike score | kurtosis | abs max | outliers |");
        L($"|---|---|---|---|---|---:|---:|---:|---:|---:|---:|");
        foreach (var d in r.Decisions)
        {
            var st = r.Statistics[d.Layer.Name];
            var role = candidates.TryGetValue(d.Layer.Name, out var c) ? Policies.LayerRoles.Name(c.Role) : "";
            var decision = d.Precision switch { LayerPrecision.Int8 => "**INT8**", LayerPrecision.Fp16 => "FP16", _ => "FP32" };
            var evidence = d.Evidence.Override is { } o ? $"{o} over: {d.Evidence.Rule}" : d.Evidence.Rule;
            if (d.Evidence.FallbackStep is { } fs) evidence = $"closed loop step {fs}; {evidence}";
            L($"| `{d.Layer.Name}` | {role} | {d.Layer.InFeatures}×{d.Layer.OutFeatures} | {decision} | {Escape(evidence)} | {Opt(d.Evidence.PredictedRisk, "F3")} | {OptPct(d.Evidence.MeasuredIncreasePct)} | {st.SpikeScore:F2} | {st.Kurtosis:F2} | {st.AbsMax:F3} | {st.OutlierRatio * 100:F3}% |");
        }
        L($"");
        L($"Columns: *predicted risk* is the predictor's probability that INT8 hurts the layer (almp, budget); *measured Δ ppl* is the perplexity increase on calibration tokens with only that layer INT8 (measured, or the closed loop); *spike score* is the largest per-channel max |x| of the layer's input over the median channel's; *kurtosis* is that input's kurtosis (3 for a Gaussian); *outliers* is the share of input values beyond 6 standard deviations.");
        return s.ToString();
    }

    private static string Opt(double? v, string format) => v is { } x ? x.ToString(format, CultureInfo.InvariantCulture) : "—";

    private static string OptPct(double? v) => v is { } x ? x.ToString("+0.0000;-0.0000", CultureInfo.InvariantCulture) + "%" : "—";

    private static string Mb(long bytes) => (bytes / 1048576.0).ToString("F2", CultureInfo.InvariantCulture) + " MiB";

    private static string Escape(string? text) => (text ?? "").Replace("|", "\\|").Replace("\n", " ");
}

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
        L($"**{(r.Passed ? "PASSED" : "FAILED")}** — {r.Int8Layers} of {r.Decisions.Count} layers INT8 ({Percent(r.Int8ParameterFraction, 1)} of quantizable weights), policy `{r.Spec.Policy.Kind}`, fallback `{r.Spec.Fallback.Value.ToString().ToLowerInvariant()}`, target `{r.Spec.Target.Value.ToString().ToLowerInvariant()}`.");
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
                L($"| `{g.Name}` | {g.Provider ?? "—"} | {ReportNumbers.Plain(g.Limit)} | {g.Measured:F4} | {(g.Passed ? "pass" : $"**FAIL** ({g.Code})")} | {g.Location.Line} |");
            L($"");
            L($"*gate* is the gate's name in the spec and *result* pass, or FAIL with the gate's MC code; *limit* is the spec's value and *measured* the same quantity after quantization, in the gate's unit: `_pct` gates in percent, `max_perplexity` in perplexity, `min_int8_fraction` as the share (0–1) of quantizable weight elements in INT8; *provider* is the execution provider the gate was measured on; *spec line* is where the gate is written.");
        }
        L($"");

        L($"## Validation ({r.EvaluationTokens} evaluation tokens)");
        L($"");
        L($"| provider | status | fp32 ppl | quantized ppl | increase | mean KL | top-1 agreement |");
        L($"|---|---|---:|---:|---:|---:|---:|");
        foreach (var p in r.Providers)
        {
            if (p.Status == ProviderStatus.Ok)
                L($"| {p.Provider} | ok | {p.Fp32Perplexity:F4} | {p.QuantizedPerplexity:F4} | {ReportNumbers.SignedPercent(p.PerplexityIncreasePct, 3)} | {ReportNumbers.Significant(p.MeanKlDivergence, 4)} | {Percent(p.Top1Agreement, 2)} |");
            else
                L($"| {p.Provider} | {p.Status.ToString().ToLowerInvariant()}: {Escape(p.Reason)} | | | | | |");
        }
        L($"");
        L($"*provider* is the ONNX Runtime execution provider both models ran on and *status* ok, or why it did not run; *fp32 ppl* and *quantized ppl* are the perplexities (exp of the mean negative log-likelihood per token, in nats) of the original and the quantized model on the evaluation text; *increase* is quantized over fp32 minus 1, in percent; *mean KL* is KL(fp32 ‖ quantized) of the next-token distributions, in nats, averaged over evaluation tokens; *top-1 agreement* is the share of tokens where both models rank the same token first.");
        L($"");
        if (r.Int8FusedOnCpu is { } fused)
            L($"ONNX Runtime's CPU optimizer fused {fused} of {r.Int8Nodes} INT8 {(r.Int8Nodes == r.Int8Layers ? "layers" : "nodes (a merged decoder's layers once per branch)")} into integer kernels (QLinearMatMul / MatMulIntegerToFloat){(fused < r.Int8Nodes ? " — the rest run as DequantizeLinear + float MatMul" : "")}.");
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
                L($"| {step.Step} | {step.MovedBack.Count}: {Escape(string.Join(", ", step.MovedBack.Select(n => $"`{n}`")))} | {step.Int8Layers} | {ReportNumbers.SignedPercent(step.PerplexityIncreasePct, 3)} | {(step.Passed ? "pass" : $"fail ({step.FailedGate})")} |");
            L($"");
            L($"*step* counts the tries; *moved back* is how many layers (and which) went back to the fallback precision and *INT8 layers* how many stayed INT8; *result* is pass, or the gate that failed. Each step moves the k riskiest INT8 layers (by predicted risk, else by measured Δ ppl) back to the fallback precision and validates again: k doubles until a step passes, then bisection finds the least k that passes. *perplexity increase* is as in the validation table, on the first provider validated.");
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
        // Per-layer error columns only when some layer was measured (measured or budget policy with a probe, or the
        // closed loop ranking layers): without a probe they would be a column of dashes.
        var measured = r.Decisions.Any(d => d.Evidence.MeasuredIncreasePct is not null || d.Evidence.MeasuredKl is not null);
        var measuredHeader = measured ? " measured Δ ppl | measured KL |" : "";
        var measuredRule = measured ? "---:|---:|" : "";
        L($"| layer | role | shape | decision | evidence | predicted risk |{measuredHeader} spike score | kurtosis | abs max | outliers |");
        L($"|---|---|---|---|---|---:|{measuredRule}---:|---:|---:|---:|");
        foreach (var d in r.Decisions)
        {
            var st = r.Statistics[d.Layer.Name];
            var role = candidates.TryGetValue(d.Layer.Name, out var c) ? Policies.LayerRoles.Name(c.Role) : "";
            var decision = d.Precision switch { LayerPrecision.Int8 => "**INT8**", LayerPrecision.Fp16 => "FP16", _ => "FP32" };
            var evidence = d.Evidence.Override is { } o ? $"{o} over: {d.Evidence.Rule}" : d.Evidence.Rule;
            if (d.Evidence.FallbackStep is { } fs) evidence = $"closed loop step {fs}; {evidence}";
            var error = measured
                ? $" {(d.Evidence.MeasuredIncreasePct is { } inc ? ReportNumbers.SignedPercent(inc, 4) : NotMeasured)} | {(d.Evidence.MeasuredKl is { } kl ? ReportNumbers.Significant(kl, 4) : NotMeasured)} |"
                : "";
            L($"| `{d.Layer.Name}` | {role} | {d.Layer.InFeatures}×{d.Layer.OutFeatures} | {decision} | {Escape(evidence)} | {(d.Evidence.PredictedRisk is { } risk ? risk.ToString("F3", CultureInfo.InvariantCulture) : NotMeasured)} |{error} {st.SpikeScore:F2} | {st.Kurtosis:F2} | {st.AbsMax:F3} | {Percent(st.OutlierRatio, 3)} |");
        }
        L($"");
        L($"Columns ({NotMeasured} where a figure was not computed for that layer):");
        L($"");
        L($"- *layer* is the projection (a MatMul with a constant weight), named after its module, e.g. `model.layers.0.mlp.down_proj`.");
        L($"- *role* is what the layer does in the block (attention q/k/v/o, FFN gate/up/down, lm head), from its name and place in the graph; *shape* is in features × out features of its weight.");
        L($"- *decision* is the precision the layer got; *evidence* is the rule of the policy (or the spec's override, or the closed loop) that chose it.");
        L($"- *predicted risk* is the predictor's probability (0–1) that INT8 hurts the layer (policies almp and budget).");
        if (measured)
        {
            L($"- *measured Δ ppl* is the perplexity change, in percent, on the first calibration tokens when only this layer is INT8 and every other layer fp32 (100 × (exp(Δ NLL per token) − 1)); *measured KL* is the mean KL(fp32 ‖ only this layer INT8) of the next-token distributions on the same tokens, in nats. Both come from the sensitivity probe (policies measured and budget, or the closed loop ranking layers).");
        }
        L($"- *spike score*, *kurtosis*, *abs max* and *outliers* describe the layer's input activation on the calibration tokens: *spike score* is the largest per-channel max |x| over the median channel's max |x| (1 for an even input; large when a few channels spike); *kurtosis* is the fourth standardized moment over all values (3 for a Gaussian); *abs max* is the largest |x|; *outliers* is the share of values with |x| at least |mean| + 6 standard deviations, in percent.");
        return s.ToString();
    }

    /// <summary>What a cell shows when the figure was not computed (no predictor, no probe).</summary>
    public const string NotMeasured = "—";

    private static string Percent(double fraction, int decimals) =>
        (100 * fraction).ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture) + "%";

    private static string Mb(long bytes) => (bytes / 1048576.0).ToString("F2", CultureInfo.InvariantCulture) + " MiB";

    private static string Escape(string? text) => (text ?? "").Replace("|", "\\|").Replace("\n", " ");
}

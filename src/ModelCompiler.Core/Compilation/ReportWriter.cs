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
                L($"| {p.Provider} | ok | {p.Fp32Perplexity:F4} | {p.QuantizedPerplexity:F4} | {p.PerplexityIncreasePct:+0.000;-0.000}% | {p.MeanKlDivergence:E3} | {p.Top1Agreement:P2} |");
            else
                L($"| {p.Provider} | {p.Status.ToString().ToLowerInvariant()}: {Escape(p.Reason)} | | | | | |");
        }
        L($"");
        if (r.Int8FusedOnCpu is { } fused)
            L($"ONNX Runtime's CPU optimizer fused {fused} of {r.Int8Layers} INT8 layers into integer kernels (QLinearMatMul / MatMulIntegerToFloat){(fused < r.Int8Layers ? " — the rest run as DequantizeLinear + float MatMul" : "")}.");
        L($"");
        L($"Calibration: {r.Calibration.Tokens} tokens in {r.Calibration.Windows} windows, min/max ranges; activations uint8 asymmetric per tensor, weights int8 symmetric per output channel.");
        L($"");

        L($"## Layers");
        L($"");
        L($"| layer | shape | decision | reason | abs max | kurtosis | spike score | outliers |");
        L($"|---|---|---|---|---:|---:|---:|---:|");
        foreach (var d in r.Decisions)
        {
            var st = r.Statistics[d.Layer.Name];
            var decision = d.Precision switch { LayerPrecision.Int8 => "**INT8**", LayerPrecision.Fp16 => "FP16", _ => "FP32" };
            L($"| `{d.Layer.Name}` | {d.Layer.InFeatures}×{d.Layer.OutFeatures} | {decision} | {Escape(d.Reason)} | {st.AbsMax:G4} | {st.Kurtosis:F2} | {st.SpikeScore:F2} | {st.OutlierRatio:P3} |");
        }
        return s.ToString();
    }

    private static string Mb(long bytes) => (bytes / 1048576.0).ToString("F2", CultureInfo.InvariantCulture) + " MiB";

    private static string Escape(string? text) => (text ?? "").Replace("|", "\\|").Replace("\n", " ");
}

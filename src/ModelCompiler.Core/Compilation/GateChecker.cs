using System.Globalization;
using ModelCompiler.Spec;
using ModelCompiler.Validation;

namespace ModelCompiler.Compilation;

/// <summary>Checks the spec's gates against the validation results; every validated provider must pass.</summary>
public static class GateChecker
{
    public const string PerplexityIncreaseCode = "MC2001";
    public const string PerplexityCode = "MC2002";
    public const string Int8FractionCode = "MC2003";

    public static IReadOnlyList<GateResult> Check(QuantizationSpec spec, CompileResult result)
    {
        var gates = new List<GateResult>();
        var ok = result.Providers.Where(p => p.Status == ProviderStatus.Ok).ToList();
        var g = spec.Gates;
        if (g.MaxPerplexityIncreasePct is { } inc)
        {
            foreach (var p in ok)
            {
                var passed = p.PerplexityIncreasePct <= inc.Value;
                gates.Add(new GateResult("max_perplexity_increase_pct", PerplexityIncreaseCode, inc.Value, p.PerplexityIncreasePct, passed, p.Provider, inc.Location,
                    F($"perplexity increase {p.PerplexityIncreasePct:F3}% on {p.Provider} exceeds max_perplexity_increase_pct {inc.Value} (fp32 {p.Fp32Perplexity:F4} → quantized {p.QuantizedPerplexity:F4} over {p.Tokens} tokens); keep sensitive layers out of INT8 with policy.exclude (e.g. \"*.down_proj\") or relax the gate")));
            }
        }
        if (g.MaxPerplexity is { } max)
        {
            foreach (var p in ok)
            {
                var passed = p.QuantizedPerplexity <= max.Value;
                gates.Add(new GateResult("max_perplexity", PerplexityCode, max.Value, p.QuantizedPerplexity, passed, p.Provider, max.Location,
                    F($"quantized perplexity {p.QuantizedPerplexity:F4} on {p.Provider} exceeds max_perplexity {max.Value} (fp32 {p.Fp32Perplexity:F4}); check the evaluation text is in the model's domain or relax the gate")));
            }
        }
        if (g.MinInt8Fraction is { } min)
        {
            var fraction = result.Int8ParameterFraction;
            gates.Add(new GateResult("min_int8_fraction", Int8FractionCode, min.Value, fraction, fraction >= min.Value, null, min.Location,
                F($"INT8 holds {fraction:P1} of the quantizable weights, below min_int8_fraction {min.Value}; the policy excludes too much ({result.Int8Layers} of {result.Decisions.Count} layers INT8)")));
        }
        return gates;
    }

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}

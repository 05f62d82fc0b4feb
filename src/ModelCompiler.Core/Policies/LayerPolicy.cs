using ModelCompiler.Quantization;
using ModelCompiler.Spec;

namespace ModelCompiler.Policies;

public enum LayerPrecision { Int8, Fp16, Fp32 }

/// <summary>What happens to one layer and why, in words a person reads in the report.</summary>
public sealed record LayerDecision(QuantizableLayer Layer, LayerPrecision Precision, string Reason);

/// <summary>Turns the spec's policy into a decision per layer. Layers not chosen for INT8 get the fallback precision.</summary>
public static class LayerPolicy
{
    public static IReadOnlyList<LayerDecision> Decide(PolicySpec policy, FallbackPrecision fallback, IReadOnlyList<QuantizableLayer> layers)
    {
        var rest = fallback == FallbackPrecision.Fp16 ? LayerPrecision.Fp16 : LayerPrecision.Fp32;
        var fallbackName = fallback == FallbackPrecision.Fp16 ? "fp16" : "fp32";
        return layers.Select(layer =>
        {
            if (policy.FindExclusion(layer.Name) is { } ex)
                return new LayerDecision(layer, rest, $"excluded by '{ex.Value}' (spec line {ex.Location.Line}); fallback {fallbackName}");
            return policy switch
            {
                AllInt8PolicySpec => new LayerDecision(layer, LayerPrecision.Int8, "policy all-int8"),
                NoInt8PolicySpec => new LayerDecision(layer, rest, $"policy none; fallback {fallbackName}"),
                ManualPolicySpec manual when manual.FindInclusion(layer.Name) is { } inc =>
                    new LayerDecision(layer, LayerPrecision.Int8, $"included by '{inc.Value}' (spec line {inc.Location.Line})"),
                ManualPolicySpec => new LayerDecision(layer, rest, $"not matched by include; fallback {fallbackName}"),
                _ => throw new ModelCompilerException("MC1199", $"policy kind '{policy.Kind}' is not implemented by this modelc version.", policy.Location.File, policy.Location.Line, policy.Location.Column),
            };
        }).ToList();
    }
}

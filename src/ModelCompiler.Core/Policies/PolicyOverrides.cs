using ModelCompiler.Quantization;
using ModelCompiler.Spec;

namespace ModelCompiler.Policies;

/// <summary>
/// <c>policy.exclude</c> and <c>policy.force_int8</c>, applied over any kind's decisions: an excluded layer is
/// never INT8, a forced one always is. The same layer named by both is a spec error before calibration.
/// </summary>
public static class PolicyOverrides
{
    public static void Validate(PolicySpec policy, IReadOnlyList<QuantizableLayer> layers)
    {
        foreach (var layer in layers)
        {
            if (policy.FindExclusion(layer.Name) is { } ex && policy.FindForced(layer.Name) is { } force)
            {
                throw force.Location.Error(SpecCodes.ForcedAndExcluded,
                    $"layer '{layer.Name}' is matched by force_int8 '{force.Value}' and by exclude '{ex.Value}' (line {ex.Location.Line}); a layer cannot be both, remove one of the two globs");
            }
        }
    }

    public static IReadOnlyList<LayerDecision> Apply(PolicySpec policy, LayerPrecision fallback, IReadOnlyList<LayerDecision> decisions) =>
        decisions.Select(d =>
        {
            if (policy.FindExclusion(d.Layer.Name) is { } ex)
            {
                var why = $"exclude '{ex.Value}' (line {ex.Location.Line})";
                return d with { Precision = fallback, Reason = $"excluded by '{ex.Value}' (spec line {ex.Location.Line}); fallback {Name(fallback)}", Evidence = d.Evidence with { Override = why } };
            }
            if (policy.FindForced(d.Layer.Name) is { } f)
            {
                var why = $"force_int8 '{f.Value}' (line {f.Location.Line})";
                return d with { Precision = LayerPrecision.Int8, Reason = $"forced by force_int8 '{f.Value}' (spec line {f.Location.Line})", Evidence = d.Evidence with { Override = why } };
            }
            return d;
        }).ToList();

    public static string Name(LayerPrecision p) => p.ToString().ToLowerInvariant();
}

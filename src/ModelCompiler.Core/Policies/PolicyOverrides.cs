using ModelCompiler.Quantization;
using ModelCompiler.Spec;

namespace ModelCompiler.Policies;

/// <summary>
/// <c>policy.exclude</c>, <c>policy.exclude_roles</c> and <c>policy.force_int8</c>, applied over any kind's
/// decisions: an excluded layer (by name glob or by role) is never INT8, a forced one always is. The same layer
/// matched by both is a spec error before calibration.
/// </summary>
public static class PolicyOverrides
{
    public static void Validate(PolicySpec policy, IReadOnlyList<QuantizableLayer> layers, IReadOnlyDictionary<string, LayerRole> roles)
    {
        foreach (var layer in layers)
        {
            if (FindExclusion(policy, layer.Name, roles) is { } ex && policy.FindForced(layer.Name) is { } force)
            {
                throw force.Location.Error(SpecCodes.ForcedAndExcluded,
                    $"layer '{layer.Name}' is matched by force_int8 '{force.Value}' and by {ex.What} (line {ex.Line}); a layer cannot be both, remove one of the two");
            }
        }
    }

    public static IReadOnlyList<LayerDecision> Apply(PolicySpec policy, LayerPrecision fallback, IReadOnlyList<LayerDecision> decisions, IReadOnlyDictionary<string, LayerRole> roles) =>
        decisions.Select(d =>
        {
            if (FindExclusion(policy, d.Layer.Name, roles) is { } ex)
            {
                var why = $"{ex.What} (line {ex.Line})";
                return d with { Precision = fallback, Reason = $"excluded by {ex.Short} (spec line {ex.Line}); fallback {Name(fallback)}", Evidence = d.Evidence with { Override = why } };
            }
            if (policy.FindForced(d.Layer.Name) is { } f)
            {
                var why = $"force_int8 '{f.Value}' (line {f.Location.Line})";
                return d with { Precision = LayerPrecision.Int8, Reason = $"forced by force_int8 '{f.Value}' (spec line {f.Location.Line})", Evidence = d.Evidence with { Override = why } };
            }
            return d;
        }).ToList();

    /// <summary>
    /// MC1153 for each <c>exclude_roles</c> entry that no layer of this model has: a role selects exactly that role, so a
    /// spec written for LLaMA (<c>down</c>) excludes nothing on GPT-2 (<c>fc_out</c>). Suggests the roles of the same family.
    /// </summary>
    public static IEnumerable<SpecDiagnostic> UnmatchedRoles(PolicySpec policy, IReadOnlyDictionary<string, LayerRole> roles)
    {
        var present = roles.Values.Distinct().Order().ToList();
        foreach (var r in policy.ExcludeRoles.Where(r => !present.Contains(r.Value)))
        {
            var related = present.Where(p => LayerRoles.Family(p).Contains(r.Value) || LayerRoles.Family(r.Value).Contains(p)).Select(LayerRoles.Name).ToList();
            yield return new SpecDiagnostic(SpecCodes.RoleMatchesNoLayer,
                $"exclude_roles '{LayerRoles.Name(r.Value)}' matches no layer of this model (its roles: {string.Join(", ", present.Select(LayerRoles.Name))})"
                + (related.Count > 0 ? $"; did you mean {string.Join(" or ", related.Select(n => $"'{n}'"))}?" : ""),
                r.Location);
        }
    }

    /// <summary>True when <c>exclude</c> or <c>exclude_roles</c> keeps the layer off INT8.</summary>
    public static bool IsExcluded(PolicySpec policy, string layerName, IReadOnlyDictionary<string, LayerRole> roles) =>
        FindExclusion(policy, layerName, roles) is not null;

    /// <summary>The exclude glob that matches the layer ("exclude '…'"), else the exclude_roles entry ("exclude_roles 'down'").</summary>
    private static (string What, string Short, int Line)? FindExclusion(PolicySpec policy, string layerName, IReadOnlyDictionary<string, LayerRole> roles)
    {
        if (policy.FindExclusion(layerName) is { } ex) return ($"exclude '{ex.Value}'", $"'{ex.Value}'", ex.Location.Line);
        if (roles.TryGetValue(layerName, out var role) && policy.FindExcludedRole(role) is { } r)
        {
            var what = $"exclude_roles '{LayerRoles.Name(r.Value)}'";
            return (what, what, r.Location.Line);
        }
        return null;
    }

    public static string Name(LayerPrecision p) => p.ToString().ToLowerInvariant();
}

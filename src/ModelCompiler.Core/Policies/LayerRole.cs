namespace ModelCompiler.Policies;

/// <summary>What a projection does in its block. Roles carry across producers where names do not.</summary>
public enum LayerRole
{
    /// <summary>A role the graph does not reveal.</summary>
    Other,
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
    LmHead,
}

public static class LayerRoles
{
    /// <summary>The spelling in specs, manifests, reports and feature files: q, k, v, o, gate, up, down, lm_head, other.</summary>
    public static string Name(LayerRole role) => role switch
    {
        LayerRole.LmHead => "lm_head",
        _ => role.ToString().ToLowerInvariant(),
    };

    public static IReadOnlyList<LayerRole> All { get; } = Enum.GetValues<LayerRole>();

    public static bool TryParse(string name, out LayerRole role)
    {
        foreach (var r in All)
        {
            if (string.Equals(Name(r), name, StringComparison.OrdinalIgnoreCase))
            {
                role = r;
                return true;
            }
        }
        role = LayerRole.Other;
        return false;
    }
}

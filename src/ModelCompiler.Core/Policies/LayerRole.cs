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
    /// <summary>q, k and v in one projection (GPT-2 <c>attn.c_attn</c>, Phi-3 <c>qkv_proj</c>, <c>query_key_value</c>, <c>Wqkv</c>).</summary>
    Qkv,
    /// <summary>The in-projection of an MLP without a separate gate layer (GPT-2 <c>mlp.c_fc</c>, <c>fc1</c>, <c>dense_h_to_4h</c>, Phi-3's fused <c>gate_up_proj</c>).</summary>
    FcIn,
    /// <summary>The layer fed by an <see cref="FcIn"/>'s activation (GPT-2 <c>mlp.c_proj</c>, <c>fc2</c>, <c>dense_4h_to_h</c>).</summary>
    FcOut,
}

public static class LayerRoles
{
    /// <summary>The spelling in specs, manifests, reports and feature files: q, k, v, o, gate, up, down, lm_head, qkv, fc_in, fc_out, other.</summary>
    public static string Name(LayerRole role) => role switch
    {
        LayerRole.LmHead => "lm_head",
        LayerRole.FcIn => "fc_in",
        LayerRole.FcOut => "fc_out",
        _ => role.ToString().ToLowerInvariant(),
    };

    public static IReadOnlyList<LayerRole> All { get; } = Enum.GetValues<LayerRole>();

    /// <summary>
    /// The roles the predictor's features one-hot encode, in feature order. Fixed, so that predictor files trained before
    /// the fused roles existed (the built-in one included) keep their feature names; a fused role is encoded through
    /// its <see cref="Family"/>.
    /// </summary>
    public static IReadOnlyList<LayerRole> FeatureRoles { get; } =
        [LayerRole.Other, LayerRole.Q, LayerRole.K, LayerRole.V, LayerRole.O, LayerRole.Gate, LayerRole.Up, LayerRole.Down, LayerRole.LmHead];

    /// <summary>
    /// The feature roles a role reads as: qkv as q, k and v together (one third each), fc_in as up (an MLP's
    /// in-projection) and fc_out as down (the layer after the activation); every other role as itself.
    /// </summary>
    public static IReadOnlyList<LayerRole> Family(LayerRole role) => role switch
    {
        LayerRole.Qkv => [LayerRole.Q, LayerRole.K, LayerRole.V],
        LayerRole.FcIn => [LayerRole.Up],
        LayerRole.FcOut => [LayerRole.Down],
        _ => [role],
    };

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

namespace ModelCompiler.Spec;

/// <summary>
/// <c>policy</c>: which quantizable layers become INT8; every other layer gets the <c>fallback</c> precision.
/// One derived record per <c>kind</c>. <c>exclude</c> (globs over layer names, see <see cref="LayerGlob"/>)
/// applies to every kind: an excluded layer is never INT8.
/// To add a kind (predictor, spike-aware, budget, ...): add a record here and one entry in
/// <see cref="PolicyKinds"/> that names its keys, reads them and writes them.
/// </summary>
/// <param name="Exclude">Layer-name globs that are never INT8 (default none), each with where it is written.</param>
/// <param name="Location">Where <c>kind</c> is written, else where <c>policy</c> is, else the file alone.</param>
public abstract record PolicySpec(IReadOnlyList<SpecValue<string>> Exclude, SpecLocation Location)
{
    /// <summary>The <c>kind</c> as written in YAML, e.g. <c>all-int8</c>.</summary>
    public abstract string Kind { get; }

    /// <summary>The first <c>exclude</c> glob that matches <paramref name="layerName"/>, or null.</summary>
    public SpecValue<string>? FindExclusion(string layerName) =>
        Exclude.FirstOrDefault(p => LayerGlob.IsMatch(p.Value, layerName));

    /// <summary>True when an <c>exclude</c> glob matches <paramref name="layerName"/>.</summary>
    public bool IsExcluded(string layerName) => FindExclusion(layerName) is not null;

    /// <summary>
    /// <c>exclude_roles</c>: layer roles (q, k, v, o, gate, up, down, lm_head, qkv, fc_in, fc_out) that are never INT8,
    /// whatever the producer names the layers (default none).
    /// </summary>
    public IReadOnlyList<SpecValue<Policies.LayerRole>> ExcludeRoles { get; init; } = [];

    /// <summary>The <c>exclude_roles</c> entry that lists <paramref name="role"/>, or null.</summary>
    public SpecValue<Policies.LayerRole>? FindExcludedRole(Policies.LayerRole role) =>
        ExcludeRoles.FirstOrDefault(r => r.Value == role);

    /// <summary><c>force_int8</c>: layer-name globs that are always INT8, whatever the kind decides (default none).</summary>
    public IReadOnlyList<SpecValue<string>> ForceInt8 { get; init; } = [];

    /// <summary>The first <c>force_int8</c> glob that matches <paramref name="layerName"/>, or null.</summary>
    public SpecValue<string>? FindForced(string layerName) =>
        ForceInt8.FirstOrDefault(p => LayerGlob.IsMatch(p.Value, layerName));
}

/// <summary><c>kind: all-int8</c>: every quantizable layer is INT8 except the excluded ones.</summary>
public sealed record AllInt8PolicySpec(IReadOnlyList<SpecValue<string>> Exclude, SpecLocation Location)
    : PolicySpec(Exclude, Location)
{
    public const string KindName = "all-int8";

    public override string Kind => KindName;
}

/// <summary><c>kind: none</c>: no layer is INT8 (every layer gets the fallback precision); a baseline.</summary>
public sealed record NoInt8PolicySpec(IReadOnlyList<SpecValue<string>> Exclude, SpecLocation Location)
    : PolicySpec(Exclude, Location)
{
    public const string KindName = "none";

    public override string Kind => KindName;
}

/// <summary>
/// <c>kind: manual</c>: a layer is INT8 when an <c>include</c> glob matches it (default <c>["*"]</c>)
/// and no <c>exclude</c> glob does.
/// </summary>
public sealed record ManualPolicySpec(
    IReadOnlyList<SpecValue<string>> Include,
    IReadOnlyList<SpecValue<string>> Exclude,
    SpecLocation Location)
    : PolicySpec(Exclude, Location)
{
    public const string KindName = "manual";

    public override string Kind => KindName;

    /// <summary>The first <c>include</c> glob that matches <paramref name="layerName"/>, or null.</summary>
    public SpecValue<string>? FindInclusion(string layerName) =>
        Include.FirstOrDefault(p => LayerGlob.IsMatch(p.Value, layerName));

    /// <summary>True when <paramref name="layerName"/> is included and not excluded.</summary>
    public bool Selects(string layerName) => FindInclusion(layerName) is not null && !IsExcluded(layerName);
}

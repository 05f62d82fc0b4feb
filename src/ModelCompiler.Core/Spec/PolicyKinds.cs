using YamlDotNet.RepresentationModel;

namespace ModelCompiler.Spec;

/// <summary>What a policy kind needs to read its own keys: the parser, its section and what every kind shares.</summary>
internal sealed record PolicyReadContext(
    SpecParser Parser,
    SectionReader? Section,
    IReadOnlyList<SpecValue<string>> Exclude,
    SpecLocation Location);

/// <summary>One policy kind: its YAML name, the keys it uses besides <c>kind</c> and <c>exclude</c>, how it reads and writes them.</summary>
internal sealed record PolicyKindDefinition(
    string Name,
    IReadOnlyList<string> Keys,
    Func<PolicyReadContext, PolicySpec> Read,
    Func<PolicySpec, IEnumerable<KeyValuePair<string, YamlNode>>> Write);

/// <summary>
/// The policy kinds a spec can name. A new kind (predictor, spike-aware, budget) is a new <see cref="PolicySpec"/>
/// record plus one entry here; unknown-key hints, "key not used by this kind" errors and the writer follow.
/// </summary>
internal static class PolicyKinds
{
    public static readonly IReadOnlyList<PolicyKindDefinition> All =
    [
        new(AllInt8PolicySpec.KindName, [], c => new AllInt8PolicySpec(c.Exclude, c.Location), _ => []),
        new(NoInt8PolicySpec.KindName, [], c => new NoInt8PolicySpec(c.Exclude, c.Location), _ => []),
        new(
            ManualPolicySpec.KindName,
            [SpecKeys.Include],
            c => new ManualPolicySpec(
                c.Parser.ReadGlobList(c.Section, SpecKeys.Include) ?? [new("*", c.Section?.Location ?? c.Location, IsDefault: true)],
                c.Exclude,
                c.Location),
            p => [new(SpecKeys.Include, SpecWriter.GlobList(((ManualPolicySpec)p).Include))]),
    ];

    /// <summary>The keys every kind shares.</summary>
    public static readonly IReadOnlyList<string> CommonKeys = [SpecKeys.Kind, SpecKeys.Exclude];

    /// <summary>Every key valid under <c>policy</c> for some kind (for unknown-key errors and hints).</summary>
    public static readonly IReadOnlyList<string> AllKeys = CommonKeys.Concat(All.SelectMany(k => k.Keys)).Distinct().ToArray();

    public static IReadOnlyList<string> Names { get; } = All.Select(k => k.Name).ToArray();

    public static PolicyKindDefinition For(PolicySpec policy) => All.First(k => k.Name == policy.Kind);
}

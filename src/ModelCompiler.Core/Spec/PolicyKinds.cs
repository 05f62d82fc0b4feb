using ModelCompiler.Policies;
using YamlDotNet.RepresentationModel;

namespace ModelCompiler.Spec;

/// <summary>What a policy kind needs to read its own keys: the parser, its section and what every kind shares.</summary>
internal sealed record PolicyReadContext(
    SpecParser Parser,
    SectionReader? Section,
    IReadOnlyList<SpecValue<string>> Exclude,
    SpecLocation Location);

/// <summary>
/// One policy kind: its YAML name, the keys it uses besides the common ones, how it reads them, how it writes them
/// (into the effective spec and the manifest's <c>spec.policy</c>) and how it builds the policy that decides.
/// </summary>
internal sealed record PolicyKindDefinition(
    string Name,
    IReadOnlyList<string> Keys,
    Func<PolicyReadContext, PolicySpec> Read,
    Func<PolicySpec, IEnumerable<KeyValuePair<string, YamlNode>>> Write,
    Func<PolicySpec, ILayerPolicy> Create);

/// <summary>
/// The policy kinds a spec can name. A new kind is one file in Policies/ (its spec record, reader, writer and
/// <see cref="ILayerPolicy"/>) plus one row here; unknown-key hints, "key not used by this kind" errors, the
/// spec writer and the manifest follow.
/// </summary>
internal static class PolicyKinds
{
    public static readonly IReadOnlyList<PolicyKindDefinition> All =
    [
        NameRulePolicies.AllInt8,
        NameRulePolicies.None,
        NameRulePolicies.Manual,
        AlmpPolicy.Definition,
        SpikePolicy.Definition,
        BudgetPolicy.Definition,
        MeasuredPolicy.Definition,
    ];

    /// <summary>The keys every kind shares.</summary>
    public static readonly IReadOnlyList<string> CommonKeys = [SpecKeys.Kind, SpecKeys.Exclude, SpecKeys.ExcludeRoles, SpecKeys.ForceInt8];

    /// <summary>Every key valid under <c>policy</c> for some kind (for unknown-key errors and hints).</summary>
    public static readonly IReadOnlyList<string> AllKeys = CommonKeys.Concat(All.SelectMany(k => k.Keys)).Distinct().ToArray();

    public static IReadOnlyList<string> Names { get; } = All.Select(k => k.Name).ToArray();

    public static PolicyKindDefinition For(PolicySpec policy) => All.First(k => k.Name == policy.Kind);

    /// <summary>Builds the policy of a spec (loading any file it names) so bad specs fail before calibration.</summary>
    public static ILayerPolicy Create(PolicySpec policy) => For(policy).Create(policy);
}

using System.Globalization;
using ModelCompiler.Quantization;
using ModelCompiler.Spec;
using YamlDotNet.RepresentationModel;

namespace ModelCompiler.Policies;

/// <summary>
/// <c>kind: spike</c> (spike-aware mixed precision, arXiv 2504.21553): activation spikes concentrate in a few
/// projections, and a per-tensor uint8 scale stretched over a spike crushes every other value. A layer whose input
/// has a spike score above <c>spike_threshold</c> or a kurtosis above <c>kurtosis_threshold</c>, or whose role is
/// listed in <c>roles</c>, keeps the fallback precision; the rest are INT8.
/// </summary>
/// <param name="SpikeThreshold">Max-channel |x| over the median channel's; default 16.</param>
/// <param name="KurtosisThreshold">Kurtosis of the input activation (3 for a Gaussian); default 8.</param>
/// <param name="Roles">Roles always kept in the fallback precision (default none), e.g. [lm_head].</param>
public sealed record SpikePolicySpec(
    SpecValue<double> SpikeThreshold,
    SpecValue<double> KurtosisThreshold,
    IReadOnlyList<SpecValue<LayerRole>> Roles,
    IReadOnlyList<SpecValue<string>> Exclude,
    SpecLocation Location)
    : PolicySpec(Exclude, Location)
{
    public const string KindName = "spike";
    public const double DefaultSpikeThreshold = 16;
    public const double DefaultKurtosisThreshold = 8;

    public override string Kind => KindName;
}

internal sealed class SpikePolicy(SpikePolicySpec spec) : ILayerPolicy
{
    public static readonly PolicyKindDefinition Definition = new(
        SpikePolicySpec.KindName,
        [SpecKeys.SpikeThreshold, SpecKeys.KurtosisThreshold, SpecKeys.Roles],
        c => new SpikePolicySpec(
            c.Parser.ReadNumberOrDefault(c.Section, SpecKeys.SpikeThreshold, SpikePolicySpec.DefaultSpikeThreshold, 1, double.PositiveInfinity, "at least 1 (max channel over median channel)", c.Location),
            c.Parser.ReadNumberOrDefault(c.Section, SpecKeys.KurtosisThreshold, SpikePolicySpec.DefaultKurtosisThreshold, 0, double.PositiveInfinity, "at least 0 (a Gaussian has 3)", c.Location),
            c.Parser.ReadRoleList(c.Section, SpecKeys.Roles) ?? [],
            c.Exclude,
            c.Location),
        p =>
        {
            var s = (SpikePolicySpec)p;
            return
            [
                new(SpecKeys.SpikeThreshold, SpecWriter.Number(s.SpikeThreshold.Value)),
                new(SpecKeys.KurtosisThreshold, SpecWriter.Number(s.KurtosisThreshold.Value)),
                new(SpecKeys.Roles, SpecWriter.RoleList(s.Roles)),
            ];
        },
        p => new SpikePolicy((SpikePolicySpec)p));

    public int? ProbeTokens => null;

    public void ValidateLayers(IReadOnlyList<QuantizableLayer> layers)
    {
    }

    public IReadOnlyList<LayerDecision> Decide(PolicyContext context) =>
        context.Candidates.Select(c =>
        {
            var a = c.Activation;
            var rule = spec.Roles.FirstOrDefault(r => r.Value == c.Role) is { } role
                ? $"role {LayerRoles.Name(c.Role)} listed in roles (spec line {role.Location.Line})"
                : a.SpikeScore > spec.SpikeThreshold.Value
                    ? F($"spike score {a.SpikeScore:F2} > spike_threshold {spec.SpikeThreshold.Value}")
                    : a.Kurtosis > spec.KurtosisThreshold.Value
                        ? F($"kurtosis {a.Kurtosis:F2} > kurtosis_threshold {spec.KurtosisThreshold.Value}")
                        : null;
            var evidence = new LayerEvidence(
                rule ?? F($"spike score {a.SpikeScore:F2} ≤ {spec.SpikeThreshold.Value}, kurtosis {a.Kurtosis:F2} ≤ {spec.KurtosisThreshold.Value}"),
                SpikeScore: a.SpikeScore, Kurtosis: a.Kurtosis);
            return rule is null
                ? new LayerDecision(c.Layer, LayerPrecision.Int8, evidence.Rule) { Evidence = evidence }
                : new LayerDecision(c.Layer, context.Fallback, $"{rule}; fallback {PolicyOverrides.Name(context.Fallback)}") { Evidence = evidence };
        }).ToList();

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}

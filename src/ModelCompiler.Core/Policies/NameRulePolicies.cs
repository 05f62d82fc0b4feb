using ModelCompiler.Quantization;
using ModelCompiler.Spec;

namespace ModelCompiler.Policies;

/// <summary>The kinds that decide from names alone: all-int8, none and manual.</summary>
internal static class NameRulePolicies
{
    public static readonly PolicyKindDefinition AllInt8 = new(
        AllInt8PolicySpec.KindName, [], c => new AllInt8PolicySpec(c.Exclude, c.Location), _ => [],
        _ => new Fixed(_ => (true, "policy all-int8")));

    public static readonly PolicyKindDefinition None = new(
        NoInt8PolicySpec.KindName, [], c => new NoInt8PolicySpec(c.Exclude, c.Location), _ => [],
        _ => new Fixed(_ => (false, "policy none")));

    public static readonly PolicyKindDefinition Manual = new(
        ManualPolicySpec.KindName,
        [SpecKeys.Include],
        c => new ManualPolicySpec(
            c.Parser.ReadGlobList(c.Section, SpecKeys.Include) ?? [new("*", c.Section?.Location ?? c.Location, IsDefault: true)],
            c.Exclude,
            c.Location),
        p => [new(SpecKeys.Include, SpecWriter.GlobList(((ManualPolicySpec)p).Include))],
        p => new Fixed(layer => ((ManualPolicySpec)p).FindInclusion(layer.Name) is { } inc
            ? (true, $"included by '{inc.Value}' (spec line {inc.Location.Line})")
            : (false, "not matched by include")));

    /// <summary>A decision that depends on the layer's name only.</summary>
    private sealed class Fixed(Func<QuantizableLayer, (bool Int8, string Rule)> rule) : ILayerPolicy
    {
        public int? ProbeTokens => null;

        public void ValidateLayers(IReadOnlyList<QuantizableLayer> layers)
        {
        }

        public IReadOnlyList<LayerDecision> Decide(PolicyContext context) =>
            context.Candidates.Select(c =>
            {
                var (int8, why) = rule(c.Layer);
                var reason = int8 ? why : $"{why}; fallback {PolicyOverrides.Name(context.Fallback)}";
                return new LayerDecision(c.Layer, int8 ? LayerPrecision.Int8 : context.Fallback, reason)
                {
                    Evidence = new LayerEvidence(why, SpikeScore: c.Activation.SpikeScore, Kurtosis: c.Activation.Kurtosis),
                };
            }).ToList();
    }
}

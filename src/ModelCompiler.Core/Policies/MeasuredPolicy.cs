using System.Globalization;
using ModelCompiler.Quantization;
using ModelCompiler.Spec;
using YamlDotNet.RepresentationModel;

namespace ModelCompiler.Policies;

/// <summary>
/// <c>kind: measured</c>: quantize each layer alone and measure the perplexity change on calibration tokens
/// (one fp32 run reused); layers above <c>max_layer_increase_pct</c> keep the fallback precision. Slow (one
/// forward pass over <c>probe_tokens</c> per layer) but exact; the same sweep labels the predictor's training data.
/// </summary>
public sealed record MeasuredPolicySpec(
    SpecValue<double> MaxLayerIncreasePct,
    SpecValue<int> ProbeTokens,
    IReadOnlyList<SpecValue<string>> Exclude,
    SpecLocation Location)
    : PolicySpec(Exclude, Location)
{
    public const string KindName = "measured";
    public const double DefaultMaxLayerIncreasePct = 0.05;
    public const int DefaultProbeTokens = 2048;

    public override string Kind => KindName;
}

internal sealed class MeasuredPolicy(MeasuredPolicySpec spec) : ILayerPolicy
{
    public static readonly PolicyKindDefinition Definition = new(
        MeasuredPolicySpec.KindName,
        [SpecKeys.MaxLayerIncreasePct, SpecKeys.ProbeTokens],
        c => new MeasuredPolicySpec(
            c.Parser.ReadNumberOrDefault(c.Section, SpecKeys.MaxLayerIncreasePct, MeasuredPolicySpec.DefaultMaxLayerIncreasePct, 0, double.PositiveInfinity, "at least 0 (percent of the fp32 perplexity)", c.Location),
            ReadProbeTokens(c),
            c.Exclude,
            c.Location),
        p =>
        {
            var s = (MeasuredPolicySpec)p;
            return
            [
                new(SpecKeys.MaxLayerIncreasePct, SpecWriter.Number(s.MaxLayerIncreasePct.Value)),
                new(SpecKeys.ProbeTokens, new YamlScalarNode(s.ProbeTokens.Value.ToString(CultureInfo.InvariantCulture))),
            ];
        },
        p => new MeasuredPolicy((MeasuredPolicySpec)p));

    internal static SpecValue<int> ReadProbeTokens(PolicyReadContext c) =>
        (c.Section is null ? null : c.Parser.ReadInt(c.Section, SpecKeys.ProbeTokens, 2, " (a window needs two tokens)"))
        ?? new(MeasuredPolicySpec.DefaultProbeTokens, c.Location, IsDefault: true);

    public int? ProbeTokens => spec.ProbeTokens.Value;

    public void ValidateLayers(IReadOnlyList<QuantizableLayer> layers)
    {
    }

    public IReadOnlyList<LayerDecision> Decide(PolicyContext context)
    {
        var probe = context.Probe ?? throw new InvalidOperationException("the measured policy needs a sensitivity probe");
        var measured = Sweep(context, probe);
        var limit = spec.MaxLayerIncreasePct.Value;
        return context.Candidates.Select((c, i) =>
        {
            var m = measured[i];
            var keep = m.IncreasePct > limit;
            var rule = string.Create(CultureInfo.InvariantCulture, $"measured {Compilation.ReportNumbers.SignedPercent(m.IncreasePct, 4)} alone {(keep ? ">" : "≤")} max_layer_increase_pct {limit}");
            var evidence = new LayerEvidence(rule, SpikeScore: c.Activation.SpikeScore, Kurtosis: c.Activation.Kurtosis, MeasuredIncreasePct: m.IncreasePct, MeasuredKl: m.MeanKl);
            return keep
                ? new LayerDecision(c.Layer, context.Fallback, $"{rule}; fallback {PolicyOverrides.Name(context.Fallback)}") { Evidence = evidence }
                : new LayerDecision(c.Layer, LayerPrecision.Int8, rule) { Evidence = evidence };
        }).ToList();
    }

    /// <summary>Each candidate alone INT8, in order, with progress.</summary>
    internal static IReadOnlyList<LayerMeasurement> Sweep(PolicyContext context, ISensitivityProbe probe)
    {
        var results = new List<LayerMeasurement>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < context.Candidates.Count; i++)
        {
            results.Add(probe.Measure([context.Candidates[i].Name]));
            var rate = (i + 1) * (double)probe.Tokens / Math.Max(clock.Elapsed.TotalSeconds, 1e-9);
            context.Progress?.Report("sensitivity", i + 1, context.Candidates.Count,
                string.Create(CultureInfo.InvariantCulture, $"{context.Candidates[i].Name}: {Compilation.ReportNumbers.SignedPercent(results[^1].IncreasePct, 4)}, {rate:F0} tokens/s"));
        }
        return results;
    }
}

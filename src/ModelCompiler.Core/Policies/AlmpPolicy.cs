using System.Globalization;
using ModelCompiler.Quantization;
using ModelCompiler.Spec;
using YamlDotNet.RepresentationModel;

namespace ModelCompiler.Policies;

/// <summary>
/// <c>kind: almp</c> (ALMP, layer-by-layer mixed precision): a classifier trained on per-layer activation and
/// weight statistics predicts the probability that INT8 hurts each layer; layers at or above <c>threshold</c>
/// keep the fallback precision.
/// </summary>
/// <param name="Threshold">Risk at or above which a layer stays out of INT8, in [0, 1]; default 0.5.</param>
/// <param name="Predictor"><c>builtin</c> (default) or a predictor file written by <c>modelc train-predictor</c>, relative to the spec.</param>
public sealed record AlmpPolicySpec(
    SpecValue<double> Threshold,
    PredictorReference Predictor,
    IReadOnlyList<SpecValue<string>> Exclude,
    SpecLocation Location)
    : PolicySpec(Exclude, Location), IPolicyWithFile
{
    public const string KindName = "almp";
    public const double DefaultThreshold = 0.5;

    public override string Kind => KindName;

    public string? PolicyFile => Predictor.File?.FullPath;
}

/// <summary><c>policy.predictor</c>: the built-in predictor, or a file.</summary>
public sealed record PredictorReference(SpecFile? File, SpecLocation Location)
{
    public const string Builtin = "builtin";

    public string AsWritten => File?.AsWritten ?? Builtin;

    internal static PredictorReference Read(PolicyReadContext c)
    {
        if (c.Section?.Value(SpecKeys.Predictor) is YScalar { Value: var v } && string.Equals(v, Builtin, StringComparison.OrdinalIgnoreCase)
            || c.Section?.Value(SpecKeys.Predictor) is null)
        {
            return new(null, c.Section?.KeyNode(SpecKeys.Predictor)?.Location ?? c.Location);
        }
        var file = c.Parser.ReadFile(c.Section!, SpecKeys.Predictor);
        return new(file, file!.Location);
    }

    /// <summary>Loads it, reporting a missing, corrupt or mismatched file at the spec line that names it.</summary>
    public ILayerRiskPredictor Load()
    {
        if (File is null) return PredictorFile.LoadBuiltin();
        try
        {
            return PredictorFile.Load(File.FullPath, File.AsWritten);
        }
        catch (ModelCompilerException e)
        {
            // The predictor's own code (missing, corrupt, other features), reported at the spec line that names it.
            throw Location.Error(e.Code, $"policy.predictor '{File.AsWritten}' cannot be used: {e.Message}", e);
        }
    }
}

internal sealed class AlmpPolicy(AlmpPolicySpec spec) : ILayerPolicy
{
    public static readonly PolicyKindDefinition Definition = new(
        AlmpPolicySpec.KindName,
        [SpecKeys.Threshold, SpecKeys.Predictor],
        c => new AlmpPolicySpec(
            c.Parser.ReadNumberOrDefault(c.Section, SpecKeys.Threshold, AlmpPolicySpec.DefaultThreshold, 0, 1, "between 0 and 1 (a probability)", c.Location),
            PredictorReference.Read(c),
            c.Exclude,
            c.Location),
        p =>
        {
            var s = (AlmpPolicySpec)p;
            return
            [
                new(SpecKeys.Threshold, SpecWriter.Number(s.Threshold.Value)),
                new(SpecKeys.Predictor, new YamlScalarNode(s.Predictor.AsWritten)),
            ];
        },
        p => new AlmpPolicy((AlmpPolicySpec)p));

    private readonly ILayerRiskPredictor _predictor = spec.Predictor.Load();

    public int? ProbeTokens => null;

    public void ValidateLayers(IReadOnlyList<QuantizableLayer> layers)
    {
    }

    public IReadOnlyList<LayerDecision> Decide(PolicyContext context)
    {
        var threshold = spec.Threshold.Value;
        return context.Candidates.Select(c =>
        {
            var risk = _predictor.Predict(LayerFeatures.Of(c));
            var keep = risk >= threshold;
            var rule = string.Create(CultureInfo.InvariantCulture,
                $"predicted risk {risk:F3} {(keep ? "≥" : "<")} threshold {threshold} ({_predictor.Trainer}, {_predictor.Source})");
            var evidence = new LayerEvidence(rule, PredictedRisk: risk, SpikeScore: c.Activation.SpikeScore, Kurtosis: c.Activation.Kurtosis);
            return keep
                ? new LayerDecision(c.Layer, context.Fallback, $"{rule}; fallback {PolicyOverrides.Name(context.Fallback)}") { Evidence = evidence }
                : new LayerDecision(c.Layer, LayerPrecision.Int8, rule) { Evidence = evidence };
        }).ToList();
    }
}

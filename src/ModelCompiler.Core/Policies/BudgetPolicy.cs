using System.Globalization;
using ModelCompiler.Quantization;
using ModelCompiler.Spec;
using YamlDotNet.RepresentationModel;

namespace ModelCompiler.Policies;

/// <summary>How the budget policy prices a layer.</summary>
public enum BudgetCosts
{
    /// <summary><c>predicted</c>: the predictor's expected perplexity increase of the layer alone (no extra forward passes).</summary>
    Predicted,

    /// <summary><c>measured</c>: the measured perplexity increase of the layer alone (one probe pass per layer).</summary>
    Measured,
}

/// <summary>
/// <c>kind: budget</c> (MXQ): the INT8 set chosen by an exact integer program (CP-SAT) under exactly one of
/// <c>max_model_bytes</c> or <c>min_int8_fraction</c> (minimise the summed per-layer cost) or
/// <c>max_predicted_increase_pct</c> (maximise the INT8 share of weights). Costs add up per layer: the increase
/// of a layer alone, predicted or measured (<c>costs</c>).
/// </summary>
public sealed record BudgetPolicySpec(
    SpecValue<long>? MaxModelBytes,
    SpecValue<double>? MinInt8Fraction,
    SpecValue<double>? MaxPredictedIncreasePct,
    SpecValue<BudgetCosts> Costs,
    PredictorReference Predictor,
    SpecValue<int> ProbeTokens,
    IReadOnlyList<SpecValue<string>> Exclude,
    SpecLocation Location)
    : PolicySpec(Exclude, Location), IPolicyWithFile
{
    public const string KindName = "budget";

    public override string Kind => KindName;

    public string? PolicyFile => Costs.Value == BudgetCosts.Predicted ? Predictor.File?.FullPath : null;

    /// <summary>Where the one constraint is written, for errors about it.</summary>
    public SpecLocation ConstraintLocation =>
        MaxModelBytes?.Location ?? MinInt8Fraction?.Location ?? MaxPredictedIncreasePct?.Location ?? Location;
}

internal sealed class BudgetPolicy : ILayerPolicy
{
    private static readonly IReadOnlyList<(string Name, BudgetCosts Value)> CostNames = [("predicted", BudgetCosts.Predicted), ("measured", BudgetCosts.Measured)];

    public static readonly PolicyKindDefinition Definition = new(
        BudgetPolicySpec.KindName,
        [SpecKeys.MaxModelBytes, SpecKeys.MinInt8Fraction, SpecKeys.MaxPredictedIncreasePct, SpecKeys.Costs, SpecKeys.Predictor, SpecKeys.ProbeTokens],
        Read,
        p =>
        {
            var s = (BudgetPolicySpec)p;
            var list = new List<KeyValuePair<string, YamlNode>>();
            if (s.MaxModelBytes is { } b) list.Add(new(SpecKeys.MaxModelBytes, new YamlScalarNode(b.Value.ToString(CultureInfo.InvariantCulture))));
            if (s.MinInt8Fraction is { } f) list.Add(new(SpecKeys.MinInt8Fraction, SpecWriter.Number(f.Value)));
            if (s.MaxPredictedIncreasePct is { } m) list.Add(new(SpecKeys.MaxPredictedIncreasePct, SpecWriter.Number(m.Value)));
            list.Add(new(SpecKeys.Costs, new YamlScalarNode(CostNames.First(c => c.Value == s.Costs.Value).Name)));
            if (s.Costs.Value == BudgetCosts.Predicted) list.Add(new(SpecKeys.Predictor, new YamlScalarNode(s.Predictor.AsWritten)));
            else list.Add(new(SpecKeys.ProbeTokens, new YamlScalarNode(s.ProbeTokens.Value.ToString(CultureInfo.InvariantCulture))));
            return list;
        },
        p => new BudgetPolicy((BudgetPolicySpec)p));

    private static PolicySpec Read(PolicyReadContext c)
    {
        var bytes = c.Section is null ? null : c.Parser.ReadNumber(c.Section, SpecKeys.MaxModelBytes, 1, 9.0e18, "a positive number of bytes");
        if (bytes is not null && bytes.Value != Math.Floor(bytes.Value))
            throw bytes.Location.Error(SpecCodes.WrongType, $"'policy.{SpecKeys.MaxModelBytes}' must be a whole number of bytes, not {bytes.Value.ToString(CultureInfo.InvariantCulture)}");
        var fraction = c.Section is null ? null : c.Parser.ReadNumber(c.Section, SpecKeys.MinInt8Fraction, 0, 1, "between 0 and 1 (a fraction of the quantizable weight parameters)");
        var increase = c.Section is null ? null : c.Parser.ReadNumber(c.Section, SpecKeys.MaxPredictedIncreasePct, 0, double.PositiveInfinity, "at least 0 (percent of the fp32 perplexity)");
        var given = new SpecLocation?[] { bytes?.Location, fraction?.Location, increase?.Location }.Where(l => l is not null).Select(l => l!).OrderBy(l => l.Line).ThenBy(l => l.Column).ToList();
        if (given.Count != 1)
        {
            var where = given.Count > 1 ? given[1] : c.Location;
            throw where.Error(SpecCodes.BudgetConstraintCount,
                $"kind: budget needs exactly one of {SpecKeys.MaxModelBytes}, {SpecKeys.MinInt8Fraction} or {SpecKeys.MaxPredictedIncreasePct}; {(given.Count == 0 ? "none is given" : $"{given.Count} are given")}");
        }
        var costs = (c.Section is null ? null : c.Parser.ReadChoice(c.Section, SpecKeys.Costs, CostNames)) ?? new(BudgetCosts.Predicted, c.Location, IsDefault: true);
        return new BudgetPolicySpec(
            bytes is null ? null : new SpecValue<long>((long)bytes.Value, bytes.Location),
            fraction, increase, costs, PredictorReference.Read(c), MeasuredPolicy.ReadProbeTokens(c), c.Exclude, c.Location);
    }

    private readonly BudgetPolicySpec _spec;
    private readonly ILayerRiskPredictor? _predictor;

    private BudgetPolicy(BudgetPolicySpec spec)
    {
        _spec = spec;
        if (spec.Costs.Value == BudgetCosts.Predicted) _predictor = spec.Predictor.Load();
    }

    public int? ProbeTokens => _spec.Costs.Value == BudgetCosts.Measured ? _spec.ProbeTokens.Value : null;

    public void ValidateLayers(IReadOnlyList<QuantizableLayer> layers)
    {
    }

    public IReadOnlyList<LayerDecision> Decide(PolicyContext context)
    {
        var candidates = context.Candidates;
        var risks = _predictor is null ? null : candidates.Select(c => _predictor.Predict(LayerFeatures.Of(c))).ToArray();
        var measured = _predictor is null ? MeasuredPolicy.Sweep(context, context.Probe ?? throw new InvalidOperationException("measured costs need a probe")) : null;
        var costs = candidates.Select((c, i) => Math.Max(0, risks is not null ? ExpectedIncrease(risks[i]) : measured![i].IncreasePct)).ToArray();

        var fallbackBytesPerWeight = context.Fallback == LayerPrecision.Fp16 ? 2 : 4;
        var items = candidates.Select((c, i) => new BudgetItem(
            c.Name, costs[i], c.Parameters,
            Int8Bytes: c.Parameters + 4 * c.Layer.OutFeatures + c.Layer.OutFeatures, // int8 weights, fp32 scales, int8 zero points
            FallbackBytes: fallbackBytesPerWeight * c.Parameters,
            ForcedInt8: _spec.FindForced(c.Name) is not null,
            Excluded: _spec.IsExcluded(c.Name) || _spec.FindExcludedRole(c.Role) is not null)).ToList();
        BudgetConstraint constraint = _spec switch
        {
            { MaxModelBytes: { } b } => new BudgetConstraint.ModelBytesAtMost(b.Value, context.Budget.OtherBytes),
            { MinInt8Fraction: { } f } => new BudgetConstraint.Int8FractionAtLeast(f.Value, context.Budget.OtherBytes),
            { MaxPredictedIncreasePct: { } m } => new BudgetConstraint.CostAtMost(m.Value, context.Budget.OtherBytes),
            _ => throw new InvalidOperationException("a budget spec has one constraint"),
        };
        var solution = BudgetSolver.Solve(items, constraint);
        if (!solution.Feasible)
            throw _spec.ConstraintLocation.Error(SpecCodes.BudgetInfeasible,
                $"no assignment of INT8 and {PolicyOverrides.Name(context.Fallback)} layers meets this budget: {solution.InfeasibleReason}");

        var what = _spec switch
        {
            { MaxModelBytes: { } b } => string.Create(CultureInfo.InvariantCulture, $"model {solution.ModelBytes} ≤ {b.Value} bytes"),
            { MinInt8Fraction: { } f } => string.Create(CultureInfo.InvariantCulture, $"INT8 fraction {solution.Int8Fraction:F3} ≥ {f.Value}"),
            _ => string.Create(CultureInfo.InvariantCulture, $"predicted increase {solution.TotalCost:F4}% ≤ {_spec.MaxPredictedIncreasePct!.Value}%"),
        };
        return candidates.Select((c, i) =>
        {
            var int8 = solution.Int8[i];
            var rule = string.Create(CultureInfo.InvariantCulture,
                $"{(int8 ? "chosen INT8" : "kept out")} by the integer program ({what}, {solution.Status}); cost {costs[i]:F4}% ({(risks is null ? "measured" : $"predicted, risk {risks[i]:F3}")})");
            var evidence = new LayerEvidence(rule, PredictedRisk: risks?[i], SpikeScore: c.Activation.SpikeScore, Kurtosis: c.Activation.Kurtosis,
                MeasuredIncreasePct: measured?[i].IncreasePct, MeasuredKl: measured?[i].MeanKl);
            return int8
                ? new LayerDecision(c.Layer, LayerPrecision.Int8, rule) { Evidence = evidence }
                : new LayerDecision(c.Layer, context.Fallback, $"{rule}; fallback {PolicyOverrides.Name(context.Fallback)}") { Evidence = evidence };
        }).ToList();
    }

    /// <summary>
    /// The expected increase of a layer alone given the predictor's risk: risk × (mean measured increase of the
    /// training rows labelled sensitive) + (1 − risk) × (mean of the others), from the predictor file's header.
    /// </summary>
    private double ExpectedIncrease(double risk) =>
        risk * _predictor!.MeanIncreasePctSensitive + (1 - risk) * _predictor.MeanIncreasePctOther;
}

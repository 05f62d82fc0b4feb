using ModelCompiler.Quantization;

namespace ModelCompiler.Policies;

public enum LayerPrecision { Int8, Fp16, Fp32 }

/// <summary>
/// Why a layer got its precision: what the policy read and which rule fired. Every field a policy did not
/// use is null. Written to the manifest and the report.
/// </summary>
/// <param name="Rule">The rule in words, e.g. "predicted risk 0.91 ≥ threshold 0.5".</param>
/// <param name="PredictedRisk">The predictor's probability that INT8 hurts this layer.</param>
/// <param name="SpikeScore">The input activation's max channel |x| over the median channel's.</param>
/// <param name="Kurtosis">The input activation's kurtosis.</param>
/// <param name="MeasuredIncreasePct">Perplexity increase (%) on calibration tokens when only this layer is INT8.</param>
/// <param name="MeasuredKl">Mean KL(fp32 ‖ this layer INT8) on calibration tokens.</param>
/// <param name="Override">"exclude '&lt;glob&gt;' (line n)" or "force_int8 '&lt;glob&gt;' (line n)" when the spec overrode the policy.</param>
/// <param name="FallbackStep">The closed-loop step (1-based) that moved this layer back to the fallback precision.</param>
public sealed record LayerEvidence(
    string Rule,
    double? PredictedRisk = null,
    double? SpikeScore = null,
    double? Kurtosis = null,
    double? MeasuredIncreasePct = null,
    double? MeasuredKl = null,
    string? Override = null,
    int? FallbackStep = null);

/// <summary>What happens to one layer and why. The layer is identified by its names (see <see cref="QuantizableLayer"/>).</summary>
public sealed record LayerDecision(QuantizableLayer Layer, LayerPrecision Precision, string Reason)
{
    public LayerEvidence Evidence { get; init; } = new(Reason);

    public bool IsInt8 => Precision == LayerPrecision.Int8;
}

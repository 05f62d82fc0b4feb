using ModelCompiler.Quantization;
using ModelCompiler.Spec;

namespace ModelCompiler.Policies;

/// <summary>
/// Decides each layer's precision after calibration. Built from its spec by <see cref="PolicyKinds"/> before
/// calibration runs, so that <see cref="ValidateLayers"/> and the constructor (e.g. loading a predictor file) fail
/// bad specs before any work.
/// </summary>
public interface ILayerPolicy
{
    /// <summary>Name-only checks against the model's layers, run before calibration (throws coded spec errors).</summary>
    void ValidateLayers(IReadOnlyList<QuantizableLayer> layers);

    /// <summary>Calibration tokens per probe measurement when <see cref="Decide"/> calls <see cref="PolicyContext.Probe"/>, else null (no probe is prepared).</summary>
    int? ProbeTokens { get; }

    /// <summary>One decision per candidate, in candidate order. Overrides (exclude, force_int8) are applied by the caller.</summary>
    IReadOnlyList<LayerDecision> Decide(PolicyContext context);
}

/// <summary>Everything a policy may read: one candidate per layer, the fallback precision, a sensitivity probe and the model's sizes.</summary>
public sealed record PolicyContext(
    IReadOnlyList<LayerCandidate> Candidates,
    LayerPrecision Fallback,
    ISensitivityProbe? Probe,
    ModelBudget Budget,
    ICompileProgress? Progress = null);

/// <summary>Sizes the budget policy needs: bytes of everything that is not a quantizable layer's weight.</summary>
public sealed record ModelBudget(long OtherBytes, long TotalWeightBytes);

/// <summary>Progress of long policy work (the sensitivity sweep), on stderr in the CLI.</summary>
public interface ICompileProgress
{
    void Report(string stage, int done, int total, string detail);
}

/// <summary>
/// Measures the model with a chosen set of layers INT8 (every other layer fp32) against the fp32 model on
/// calibration tokens, reusing one fp32 run. What the measured policy, the sensitivity sweep and cost
/// estimation call.
/// </summary>
public interface ISensitivityProbe
{
    /// <summary>The tokens each measurement covers.</summary>
    int Tokens { get; }

    LayerMeasurement Measure(IReadOnlyCollection<string> int8Layers);
}

/// <param name="IncreasePct">Perplexity increase over fp32, in percent (100 · (exp(ΔNLL) − 1)).</param>
/// <param name="MeanKl">Mean KL(fp32 ‖ quantized) per predicted token.</param>
public sealed record LayerMeasurement(double IncreasePct, double MeanKl, double DeltaNll);

/// <summary>A policy spec that names a file the compile reads (a predictor): fingerprinted as an input.</summary>
public interface IPolicyWithFile
{
    /// <summary>The full path, or null when the policy uses nothing but built-in data.</summary>
    string? PolicyFile { get; }
}

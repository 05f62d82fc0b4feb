using ModelCompiler.Calibration;
using ModelCompiler.Quantization;

namespace ModelCompiler.Policies;

/// <summary>
/// One quantizable layer as a policy sees it after calibration: the layer (identified by names, see
/// <see cref="QuantizableLayer.Name"/>), what calibration measured at its input, its weight, and where it sits.
/// </summary>
/// <param name="RelativeDepth">The block index over the number of blocks minus one, in [0, 1]; 1 for lm_head.</param>
public sealed record LayerCandidate(
    QuantizableLayer Layer,
    ActivationSummary Activation,
    WeightStats Weight,
    LayerRole Role,
    double RelativeDepth)
{
    public string Name => Layer.Name;
    public long Parameters => Layer.Parameters;
}

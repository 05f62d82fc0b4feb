namespace ModelCompiler.Policies;

/// <summary>
/// Predicts, from <see cref="LayerFeatures"/>, the probability that quantizing a layer to INT8 alone hurts the
/// model (the label of <c>modelc sensitivity</c>'s CSV). The built-in one ships inside modelc; others are files
/// written by <c>modelc train-predictor</c>.
/// </summary>
public interface ILayerRiskPredictor
{
    /// <summary>Where it came from, for the manifest and report: "builtin" or the file path as the spec names it.</summary>
    string Source { get; }

    /// <summary>The trainer that produced it, e.g. "FastTree" or "LbfgsLogisticRegression".</summary>
    string Trainer { get; }

    /// <summary>Mean measured perplexity increase (%) of the training layers labelled sensitive (what risk 1 expects).</summary>
    double MeanIncreasePctSensitive { get; }

    /// <summary>Mean measured perplexity increase (%) of the other training layers (what risk 0 expects).</summary>
    double MeanIncreasePctOther { get; }

    /// <summary>The probability in [0, 1] that INT8 hurts the layer with these features (in <see cref="LayerFeatures.Names"/> order).</summary>
    double Predict(ReadOnlySpan<float> features);
}

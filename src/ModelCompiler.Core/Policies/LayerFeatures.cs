using System.Globalization;

namespace ModelCompiler.Policies;

/// <summary>
/// The feature vector the ALMP predictor reads, one place for the sensitivity CSV, training and prediction.
/// Scale-free transforms (logs of ratios) where possible, so that features carry across models of other widths
/// and weight scales. A predictor file records <see cref="Names"/>; one trained on other names is refused. Roles are
/// one-hot over <see cref="LayerRoles.FeatureRoles"/> (a fused role through its family), so that new roles do not
/// change the names.
/// </summary>
public static class LayerFeatures
{
    public static IReadOnlyList<string> Names { get; } =
    [
        "log10_abs_max",
        "log2_p99_over_std",
        "log2_p999_over_std",
        "log2_p9999_over_std",
        "log10_std",
        "log2_kurtosis",
        "skewness",
        "log10_outlier_ratio",
        "log2_spike_score",
        "log2_token_abs_max_ratio",
        "log2_abs_max_over_std",
        "log10_weight_abs_max",
        "log10_weight_std",
        "log2_weight_kurtosis",
        "log2_weight_channel_spread",
        "relative_depth",
        .. LayerRoles.FeatureRoles.Select(r => "role_" + LayerRoles.Name(r)),
    ];

    public static float[] Of(LayerCandidate c)
    {
        var a = c.Activation;
        var w = c.Weight;
        var std = Math.Max(a.Std, 1e-12);
        var values = new List<double>
        {
            Math.Log10(Math.Max(a.AbsMax, 1e-12)),
            Math.Log2(Math.Max(a.AbsP99, 1e-12) / std),
            Math.Log2(Math.Max(a.AbsP999, 1e-12) / std),
            Math.Log2(Math.Max(a.AbsP9999, 1e-12) / std),
            Math.Log10(std),
            Math.Log2(Math.Max(a.Kurtosis, 1e-6)),
            a.Skewness,
            Math.Log10(a.OutlierRatio + 1e-7),
            Math.Log2(Math.Max(a.SpikeScore, 1e-6)),
            Math.Log2(Math.Max(a.TokenAbsMaxMax, 1e-12) / Math.Max(a.TokenAbsMaxMean, 1e-12)),
            Math.Log2(Math.Max(a.AbsMax, 1e-12) / std),
            Math.Log10(Math.Max(w.AbsMax, 1e-12)),
            Math.Log10(Math.Max(w.Std, 1e-12)),
            Math.Log2(Math.Max(w.Kurtosis, 1e-6)),
            Math.Log2(Math.Max(w.ChannelRangeSpread, 1e-6)),
            c.RelativeDepth,
        };
        var family = LayerRoles.Family(c.Role);
        foreach (var r in LayerRoles.FeatureRoles) values.Add(family.Contains(r) ? 1.0 / family.Count : 0);
        return values.Select(v => (float)v).ToArray();
    }

    public static string Format(float value) => value.ToString("G7", CultureInfo.InvariantCulture);
}

namespace ModelCompiler.Policies;

/// <summary>
/// Statistics of one layer's weight, as the predictor reads them.
/// <paramref name="ChannelRangeSpread"/>: max over output channels of max|w| divided by the median of the same, the
/// weight's analogue of the activation spike score (per-channel scales absorb it; per-tensor ones would not).
/// </summary>
public sealed record WeightStats(double AbsMax, double Std, double Kurtosis, double ChannelRangeSpread)
{
    /// <summary>From the weight laid out [in, out] (row-major), channels = output columns.</summary>
    public static WeightStats Compute(ReadOnlySpan<float> wInOut, int inFeatures, int outFeatures)
    {
        if (wInOut.Length != (long)inFeatures * outFeatures) throw new ArgumentException("weight size does not match its shape");
        var channelMax = new double[outFeatures];
        double sum = 0, sum2 = 0, absMax = 0;
        for (var i = 0; i < inFeatures; i++)
        {
            var row = wInOut.Slice(i * outFeatures, outFeatures);
            for (var j = 0; j < outFeatures; j++)
            {
                double v = row[j];
                var a = Math.Abs(v);
                if (a > channelMax[j]) channelMax[j] = a;
                if (a > absMax) absMax = a;
                sum += v;
                sum2 += v * v;
            }
        }
        double n = wInOut.Length;
        var mean = sum / n;
        var variance = Math.Max(sum2 / n - mean * mean, 0);
        double m4 = 0;
        foreach (var v in wInOut)
        {
            var d = v - mean;
            m4 += d * d * d * d;
        }
        m4 /= n;
        var kurtosis = variance > 0 ? m4 / (variance * variance) : 0;
        Array.Sort(channelMax);
        var median = channelMax.Length % 2 == 1
            ? channelMax[channelMax.Length / 2]
            : 0.5 * (channelMax[channelMax.Length / 2 - 1] + channelMax[channelMax.Length / 2]);
        var spread = median > 0 ? channelMax[^1] / median : 0;
        return new WeightStats(absMax, Math.Sqrt(variance), kurtosis, spread);
    }
}

using ModelCompiler.Calibration;

namespace ModelCompiler.Core.Tests.Compilation;

public sealed class ActivationStatsTests
{
    /// <summary>Heavy-tailed data with two loud channels, like LLaMA activations; checked against two-pass formulas.</summary>
    [Fact]
    public void Summary_MatchesDirectComputation()
    {
        const int channels = 32, tokens = 3000;
        var random = new Random(5);
        var data = new float[tokens * channels];
        for (var t = 0; t < tokens; t++)
            for (var c = 0; c < channels; c++)
            {
                var gauss = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
                data[t * channels + c] = (float)(gauss * (c is 3 or 17 ? 8 : 1) + 0.1);
            }

        var stats = new ActivationStats(channels);
        for (var start = 0; start < data.Length; start += 700 * channels) // uneven batches
            Assert.True(stats.Observe(data.AsSpan(start, Math.Min(700 * channels, data.Length - start))));
        var s = stats.Summarize();

        var mean = data.Average(v => (double)v);
        var m2 = data.Average(v => Math.Pow(v - mean, 2));
        var m4 = data.Average(v => Math.Pow(v - mean, 4));
        Assert.Equal(data.Length, s.Values);
        Assert.Equal(tokens, s.Tokens);
        Assert.Equal(data.Min(), s.Min);
        Assert.Equal(data.Max(), s.Max);
        Assert.Equal(mean, s.Mean, 1e-9);
        Assert.Equal(Math.Sqrt(m2), s.Std, 1e-6);
        Assert.Equal(m4 / (m2 * m2), s.Kurtosis, 1e-4);

        var channelMax = Enumerable.Range(0, channels).Select(c => Enumerable.Range(0, tokens).Max(t => Math.Abs(data[t * channels + c]))).ToArray();
        var sorted = channelMax.Order().ToArray();
        var median = (sorted[15] + sorted[16]) / 2.0;
        Assert.Equal(sorted[^1] / median, s.SpikeScore, 1e-5);
        Assert.Equal([3, 17], s.TopChannels.Take(2).Order().ToArray());

        // Percentiles come from a histogram with 16 equal bins per octave: within one bin (≤ 1/16) above the exact value.
        var abs = data.Select(v => (double)Math.Abs(v)).Order().ToArray();
        foreach (var (q, got) in new[] { (0.99, s.AbsP99), (0.999, s.AbsP999) })
        {
            var exact = abs[(int)Math.Ceiling(q * abs.Length) - 1];
            Assert.InRange(got, exact, exact * (1 + 1.0 / 16) + 1e-9);
        }
        var exactOutliers = data.Count(v => Math.Abs(v) > Math.Abs(mean) + 6 * Math.Sqrt(m2)) / (double)data.Length;
        Assert.InRange(s.OutlierRatio, exactOutliers * 0.5, exactOutliers * 1.5 + 1e-4);
    }

    [Fact]
    public void NonFiniteValues_AreRejected_WithoutChangingTheStatistics()
    {
        var stats = new ActivationStats(2);
        Assert.True(stats.Observe([1f, -2f]));
        Assert.False(stats.Observe([float.NaN, 0f]));
        Assert.False(stats.Observe([0f, float.PositiveInfinity]));
        Assert.Equal(2, stats.Count);
        Assert.Equal(-2f, stats.Min);
    }

    [Fact]
    public void ExtremeMagnitudes_LandInTheEndBins_AndPercentilesStayWithinTheObservedRange()
    {
        var stats = new ActivationStats(4);
        Assert.True(stats.Observe([0f, 1e-30f, -3f, 1e30f]));
        Assert.Equal(1e30f, stats.AbsMax);
        Assert.InRange(stats.AbsPercentile(0.5), 0, Math.Pow(2, -24));    // 0 and 1e-30 share the bottom bin
        Assert.InRange(stats.AbsPercentile(0.75), 3, 3 * (1 + 1.0 / 16));  // 3 lies in [2.875, 3.0625)
        Assert.Equal(1e30f, (float)stats.AbsPercentile(1.0));               // the top bin is capped at the maximum
    }
}

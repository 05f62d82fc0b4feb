using ModelCompiler.Calibration;

namespace ModelCompiler.Core.Tests.Compilation;

public sealed class ActivationStatsTests
{
    /// <summary>The documented resolution: 128 bins per octave, so a bin spans at most 1/128 of its edge nearer zero.</summary>
    private const double BinWidth = 1.0 / 128;

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

        // Percentiles come from a histogram with 128 equal bins per octave: within one bin (≤ 1/128) above the exact value.
        var abs = data.Select(v => (double)Math.Abs(v)).Order().ToArray();
        foreach (var (q, got) in new[] { (0.99, s.AbsP99), (0.999, s.AbsP999), (0.5, stats.AbsPercentile(0.5)), (0.9, stats.AbsPercentile(0.9)) })
        {
            var exact = abs[(int)Math.Ceiling(q * abs.Length) - 1];
            Assert.InRange(got, exact, exact * (1 + BinWidth) + 1e-9);
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
        Assert.InRange(stats.AbsPercentile(0.75), 3, 3 * (1 + BinWidth));  // 3 = 1.5 * 2 is a bin edge: [3, 3.015625)
        Assert.Equal(1e30f, (float)stats.AbsPercentile(1.0));               // the top bin is capped at the maximum
    }

    /// <summary>Each bin holds exactly the values between its edges, on its own side of zero, and is at most 1/128 wide.</summary>
    [Fact]
    public void Histogram_BinsHoldTheirValues_PerSign_InAscendingOrder()
    {
        var random = new Random(11);
        var data = new float[4000];
        for (var i = 0; i < data.Length; i++)
        {
            var magnitude = (float)Math.Exp(random.NextDouble() * 8 - 4); // |x| from 0.018 to 55, never 0
            data[i] = i % 3 == 0 ? -magnitude : magnitude;
        }

        var stats = new ActivationStats(4);
        Assert.True(stats.Observe(data));
        var bins = stats.Histogram().ToArray();

        Assert.Equal(data.Length, bins.Sum(b => b.Count));
        Assert.Equal(data.Min(), bins[0].Lower);
        Assert.Equal(data.Max(), bins[^1].Upper);
        for (var i = 1; i < bins.Length; i++)
        {
            Assert.True(bins[i - 1].Upper <= bins[i].Lower, $"bin {i} starts at {bins[i].Lower}, before {bins[i - 1].Upper}");
        }

        foreach (var bin in bins)
        {
            var positive = bin.Lower > 0;
            Assert.True(positive || bin.Upper < 0, $"bin [{bin.Lower}, {bin.Upper}] straddles zero");
            // [Lower, Upper) for positive bins, (Lower, Upper] for negative ones; the observed extremes close the end bins.
            var inside = data.Count(v => positive
                ? v >= bin.Lower && (v < bin.Upper || v == bin.Upper && v == stats.Max)
                : v <= bin.Upper && (v > bin.Lower || v == bin.Lower && v == stats.Min));
            Assert.True(inside == bin.Count, $"bin [{bin.Lower:R}, {bin.Upper:R}] holds {bin.Count}, the data {inside}: {string.Join(", ", data.Where(v => v >= bin.Lower && v <= bin.Upper).Select(v => v.ToString("R")))}");
            var nearZero = positive ? bin.Lower : -bin.Upper;
            Assert.True(bin.Upper - bin.Lower <= nearZero * BinWidth * (1 + 1e-12), $"bin [{bin.Lower}, {bin.Upper}] is wider than 1/128");
        }

        Assert.Equal(data.Count(v => v < 0), bins.Where(b => b.Upper < 0).Sum(b => b.Count));
    }
}

using ModelCompiler.Calibration;

namespace ModelCompiler.Core.Tests.Calibration;

public sealed class RangeEstimatorTests
{
    /// <summary>The histogram's resolution: 128 bins per octave, so a percentile is at most 1/128 above the exact value.</summary>
    private const double BinWidth = 1.0 / 128;

    private static ActivationStats Observe(float[] data, int channels = 8)
    {
        var stats = new ActivationStats(channels);
        Assert.True(stats.Observe(data));
        return stats;
    }

    private static float Gaussian(Random random) =>
        (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));

    /// <summary>The p-th percentile of |x| from a sorted copy: the smallest |x| with at least p % of the values at or below it.</summary>
    private static double ExactAbsPercentile(float[] data, double percentile)
    {
        var abs = data.Select(v => (double)Math.Abs(v)).Order().ToArray();
        return abs[(int)Math.Ceiling(percentile / 100 * abs.Length) - 1];
    }

    [Fact]
    public void MinMax_IsTheObservedMinimumAndMaximum()
    {
        var random = new Random(3);
        var data = Enumerable.Range(0, 8000).Select(_ => Gaussian(random) * 2 + 0.7f).ToArray();

        var (min, max) = new MinMaxRangeEstimator().Estimate(Observe(data));

        Assert.Equal(data.Min(), min);
        Assert.Equal(data.Max(), max);
    }

    /// <summary>A uniform grid over [-20, 50]: |x| percentiles known from the sorted values, clipped per side to what was seen.</summary>
    [Theory]
    [InlineData(50.0)]
    [InlineData(90.0)]
    [InlineData(99.0)]
    [InlineData(99.99)]
    public void Percentile_ClipsAtTheExactPercentileOfAbsX_WithinOneBin(double percentile)
    {
        const int n = 70_000;
        var data = Enumerable.Range(0, n).Select(k => (float)(-20 + 70 * (k + 0.5) / n)).ToArray();
        var exact = ExactAbsPercentile(data, percentile);

        var (min, max) = new PercentileRangeEstimator(percentile).Estimate(Observe(data));

        Assert.InRange(max, exact, exact * (1 + BinWidth) + 1e-6);
        Assert.Equal(Math.Max(data.Min(), -max), min); // one threshold for both sides: the negative side stops at -20
    }

    [Fact]
    public void Percentile_DropsRareOutliers_And100KeepsTheWholeRange()
    {
        var random = new Random(8);
        var data = Enumerable.Range(0, 100_000).Select(_ => Gaussian(random)).ToArray();
        data[123] = 900f;
        data[45_678] = -700f;
        var stats = Observe(data);
        var exact = ExactAbsPercentile(data, 99.99);

        var (min, max) = new PercentileRangeEstimator().Estimate(stats);
        Assert.InRange(max, exact, exact * (1 + BinWidth) + 1e-6);
        Assert.Equal(-max, min);
        Assert.True(max < 10, $"99.99 % of |x| should lie below 10 for a unit Gaussian, got {max}");

        Assert.Equal((data.Min(), data.Max()), new PercentileRangeEstimator(100).Estimate(stats));
    }

    /// <summary>A unit Gaussian with a handful of values at ±1000: the KL search clips far below them but keeps the bulk.</summary>
    [Fact]
    public void Entropy_ClipsAFewHugeOutliers_FarBelowTheirMagnitude()
    {
        var random = new Random(21);
        var data = Enumerable.Range(0, 200_000).Select(_ => Gaussian(random)).ToArray();
        for (var i = 0; i < 5; i++)
        {
            data[i * 39_999] = i % 2 == 0 ? 1000f : -1000f;
        }

        var bulkMax = data.Where(v => Math.Abs(v) < 100).Max(Math.Abs);
        var (min, max) = new EntropyRangeEstimator().Estimate(Observe(data));

        Assert.InRange(max, bulkMax, 100f);   // at least the bulk, at most a tenth of the outliers
        Assert.Equal(-max, min);
    }

    /// <summary>Uniform values have nothing worth clipping: any threshold inside the range piles mass onto P's last bin.</summary>
    [Fact]
    public void Entropy_KeepsAUniformDistributionsRangeNearlyWhole()
    {
        var random = new Random(34);
        var data = Enumerable.Range(0, 1_000_000).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();

        var (min, max) = new EntropyRangeEstimator().Estimate(Observe(data));

        Assert.InRange(max, 0.98f * data.Max(), data.Max());
        Assert.InRange(min, data.Min(), 0.98f * data.Min());
    }

    /// <summary>All values above zero: the range is clipped on the positive side only and never leaves what was observed.</summary>
    [Fact]
    public void Entropy_OnOneSidedData_StaysInsideTheObservedRange()
    {
        var random = new Random(55);
        var data = Enumerable.Range(0, 50_000).Select(_ => 0.5f + MathF.Abs(Gaussian(random))).ToArray();
        data[7] = 400f;

        var (min, max) = new EntropyRangeEstimator().Estimate(Observe(data));

        Assert.Equal(data.Min(), min);
        Assert.InRange(max, 3f, 40f);
    }

    /// <summary>
    /// The prefix-sum search against a direct transcription of the reference algorithm: for every threshold build P and
    /// Q bin by bin, smooth Q's empty bins as the estimator documents, and sum KL(P || Q).
    /// </summary>
    [Fact]
    public void Entropy_ThresholdSearch_MatchesABinByBinKlComputation()
    {
        var random = new Random(89);
        var histogram = new double[EntropyRangeEstimator.ReferenceBins];
        for (var j = 0; j < histogram.Length; j++)
        {
            // A decaying bulk, gaps, and a few far bins: every branch of the search (empty levels, empty last bin) occurs.
            histogram[j] = j < 300 ? Math.Floor(5000 * Math.Exp(-j / 40.0) * random.NextDouble()) : random.Next(400) == 0 ? 1 : 0;
        }

        histogram[^1] = 2;
        var levels = EntropyRangeEstimator.QuantizedBins;
        var naive = Enumerable.Range(0, histogram.Length + 1).Select(i => i < levels ? double.NaN : NaiveKl(histogram, i)).ToArray();
        var divergences = new double[histogram.Length + 1];

        var chosen = EntropyRangeEstimator.BestThresholdBins(histogram, divergences);

        for (var i = levels; i <= histogram.Length; i++)
        {
            Assert.True(Math.Abs(naive[i] - divergences[i]) <= 1e-9 * Math.Max(1, naive[i]), $"KL of {i} bins: {divergences[i]}, bin by bin {naive[i]}");
        }

        var naiveBest = Enumerable.Range(levels, histogram.Length - levels + 1).MinBy(i => naive[i]);
        Assert.True(naive[chosen] <= naive[naiveBest] + 1e-9, $"chose {chosen} bins (KL {naive[chosen]}), the least KL is at {naiveBest} bins ({naive[naiveBest]})");
        Assert.InRange(chosen, 150, 2000); // neither end: the bulk wants more than 128 bins, the far bins are not worth keeping
    }

    private static double NaiveKl(double[] h, int i)
    {
        const int levels = EntropyRangeEstimator.QuantizedBins;
        var total = h.Sum();
        var p = h.Take(i).ToArray();
        p[^1] += h.Skip(i).Sum();
        var q = new double[i];
        for (var k = 0; k < levels; k++)
        {
            int start = k * i / levels, end = (k + 1) * i / levels;
            var levelMass = h.Skip(start).Take(end - start).Sum();
            var used = Enumerable.Range(start, end - start).Count(j => p[j] > 0);
            for (var j = start; j < end; j++)
            {
                q[j] = p[j] > 0 ? (levelMass > 0 ? levelMass : 1e-4) / used : 0;
            }
        }

        var sliced = h.Take(i).Sum();
        return sliced == 0
            ? double.PositiveInfinity
            : Enumerable.Range(0, i).Where(j => p[j] > 0).Sum(j => p[j] / total * Math.Log(p[j] / total / (q[j] / sliced)));
    }

    [Fact]
    public void Estimates_AreDeterministic_WhateverTheBatching()
    {
        var random = new Random(13);
        var data = Enumerable.Range(0, 64 * 900).Select(i => Gaussian(random) * (i % 64 == 5 ? 30 : 1)).ToArray();
        var whole = Observe(data, 64);
        var batched = new ActivationStats(64);
        for (var start = 0; start < data.Length; start += 64 * 250)
        {
            Assert.True(batched.Observe(data.AsSpan(start, Math.Min(64 * 250, data.Length - start))));
        }

        foreach (var (name, method) in RangeEstimators.Names)
        {
            var estimator = RangeEstimators.Create(method);
            var first = estimator.Estimate(whole);
            Assert.Equal(first, estimator.Estimate(whole));
            Assert.Equal(first, RangeEstimators.Create(method).Estimate(batched));
            Assert.Equal(name, estimator.Name);
        }
    }

    [Fact]
    public void Factory_NamesEveryMethod_AndChecksThePercentile()
    {
        Assert.Equal(
            [("minmax", CalibrationMethod.MinMax), ("percentile", CalibrationMethod.Percentile), ("entropy", CalibrationMethod.Entropy)],
            RangeEstimators.Names);
        Assert.IsType<MinMaxRangeEstimator>(RangeEstimators.Create(CalibrationMethod.MinMax));
        Assert.Equal(99.99, Assert.IsType<PercentileRangeEstimator>(RangeEstimators.Create(CalibrationMethod.Percentile)).Percentile);
        Assert.Equal(97.5, Assert.IsType<PercentileRangeEstimator>(RangeEstimators.Create(CalibrationMethod.Percentile, 97.5)).Percentile);
        Assert.IsType<EntropyRangeEstimator>(RangeEstimators.Create(CalibrationMethod.Entropy));

        foreach (var bad in new[] { 0, -1, 100.5, double.NaN })
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => new PercentileRangeEstimator(bad));
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => RangeEstimators.Create((CalibrationMethod)42));
    }

    [Fact]
    public void Estimators_NeedObservedValues_AndAllZerosGiveAnEmptyRange()
    {
        foreach (var (_, method) in RangeEstimators.Names)
        {
            Assert.Throws<InvalidOperationException>(() => RangeEstimators.Create(method).Estimate(new ActivationStats(2)));
            Assert.Equal((0f, 0f), RangeEstimators.Create(method).Estimate(Observe(new float[16])));
        }
    }
}

namespace ModelCompiler.Calibration;

/// <summary>
/// Turns the calibration statistics of one activation into the range [Min, Max] its uint8 asymmetric
/// quantization covers (see <c>ActivationQuantParams.FromRange</c>, which also widens the range to include 0).
/// Values outside the range saturate; a narrower range gives the values inside it finer steps.
/// </summary>
public interface IRangeEstimator
{
    /// <summary>The method's name in a spec (<c>calibration.method</c>).</summary>
    string Name { get; }

    /// <summary>The range to quantize to, within the observed [Min, Max]. Needs at least one observed value.</summary>
    (float Min, float Max) Estimate(ActivationStats stats);
}

/// <summary>How activation ranges are estimated from calibration statistics (<c>calibration.method</c>).</summary>
public enum CalibrationMethod
{
    /// <summary><c>minmax</c>: the observed min and max; nothing saturates.</summary>
    MinMax,

    /// <summary><c>percentile</c>: clip |x| at a percentile (<c>calibration.percentile</c>, default 99.99).</summary>
    Percentile,

    /// <summary><c>entropy</c>: the |x| threshold whose 128-level quantization loses least information (KL divergence, as TensorRT).</summary>
    Entropy,
}

/// <summary>The range estimators by name; a new method is a <see cref="CalibrationMethod"/> member and one row here.</summary>
public static class RangeEstimators
{
    /// <summary>The default of <c>calibration.percentile</c>.</summary>
    public const double DefaultPercentile = 99.99;

    private static readonly IReadOnlyList<(string Name, CalibrationMethod Method, Func<double, IRangeEstimator> Create)> Table =
    [
        (MinMaxRangeEstimator.MethodName, CalibrationMethod.MinMax, _ => new MinMaxRangeEstimator()),
        (PercentileRangeEstimator.MethodName, CalibrationMethod.Percentile, p => new PercentileRangeEstimator(p)),
        (EntropyRangeEstimator.MethodName, CalibrationMethod.Entropy, _ => new EntropyRangeEstimator()),
    ];

    /// <summary>Every method with its spec name, in the order the spec documents them (the default first).</summary>
    public static IReadOnlyList<(string Name, CalibrationMethod Method)> Names { get; } = Table.Select(t => (t.Name, t.Method)).ToArray();

    /// <summary>The estimator of <paramref name="method"/>; <paramref name="percentile"/>, in (0, 100], is used by <see cref="CalibrationMethod.Percentile"/> only.</summary>
    public static IRangeEstimator Create(CalibrationMethod method, double percentile = DefaultPercentile) => Row(method).Create(percentile);

    /// <summary>The spec name of <paramref name="method"/>, e.g. <c>minmax</c>.</summary>
    public static string NameOf(CalibrationMethod method) => Row(method).Name;

    private static (string Name, CalibrationMethod Method, Func<double, IRangeEstimator> Create) Row(CalibrationMethod method)
    {
        foreach (var row in Table)
        {
            if (row.Method == method)
            {
                return row;
            }
        }

        throw new ArgumentOutOfRangeException(nameof(method), method, "not a calibration method");
    }

    internal static void RequireValues(ActivationStats stats)
    {
        ArgumentNullException.ThrowIfNull(stats);
        if (stats.Count == 0)
        {
            throw new InvalidOperationException("no values observed: a range needs at least one calibration value");
        }
    }

    /// <summary>[-threshold, threshold] intersected with the observed [Min, Max].</summary>
    internal static (float Min, float Max) ClipSymmetric(ActivationStats stats, double threshold)
    {
        var t = (float)threshold;
        var lo = Math.Max(stats.Min, -t);
        var hi = Math.Min(stats.Max, t);
        // A threshold below every |x| (all values on one side of zero) keeps only the value nearest zero.
        return lo <= hi ? (lo, hi) : stats.Min > 0 ? (stats.Min, stats.Min) : (stats.Max, stats.Max);
    }
}

/// <summary><c>minmax</c>: the observed min and max (what the transform used before range estimators).</summary>
public sealed class MinMaxRangeEstimator : IRangeEstimator
{
    public const string MethodName = "minmax";

    public string Name => MethodName;

    public (float Min, float Max) Estimate(ActivationStats stats)
    {
        RangeEstimators.RequireValues(stats);
        return (stats.Min, stats.Max);
    }
}

/// <summary>
/// <c>percentile</c>: a threshold t, the <see cref="Percentile"/>-th percentile of |x| (upper edge of its histogram bin,
/// so at most 0.8% above the exact value), gives the range [max(Min, -t), min(Max, t)].
/// </summary>
public sealed class PercentileRangeEstimator : IRangeEstimator
{
    public const string MethodName = "percentile";

    public PercentileRangeEstimator(double percentile = RangeEstimators.DefaultPercentile)
    {
        if (!(percentile > 0 && percentile <= 100))
        {
            throw new ArgumentOutOfRangeException(nameof(percentile), percentile, "a percentile must be greater than 0 and at most 100");
        }

        Percentile = percentile;
    }

    /// <summary>The percentile of |x| that is kept, in (0, 100]; 100 keeps the whole observed range.</summary>
    public double Percentile { get; }

    public string Name => MethodName;

    public (float Min, float Max) Estimate(ActivationStats stats)
    {
        RangeEstimators.RequireValues(stats);
        // One |x| threshold for both sides (ORT's symmetric=True histogram), then each side clipped to what was observed;
        // ORT's symmetric=False would instead cut (100 - p) / 2 percent off each signed tail.
        return RangeEstimators.ClipSymmetric(stats, stats.AbsPercentile(Percentile / 100));
    }
}

/// <summary>
/// <c>entropy</c>: TensorRT's KL-divergence calibration, as ONNX Runtime's EntropyCalibrater does it. |x| is re-binned
/// to <see cref="ReferenceBins"/> equal bins over [0, AbsMax]; for each candidate threshold of i bins (i from
/// <see cref="QuantizedBins"/> to all of them) the reference P is those i bins with the mass beyond them added to the
/// last, and Q is the i bins merged into <see cref="QuantizedBins"/> levels and spread back evenly over the bins where
/// P is non-zero. The threshold with the least KL(P || Q) wins (the smallest on ties), clipped per side to [Min, Max].
/// </summary>
public sealed class EntropyRangeEstimator : IRangeEstimator
{
    public const string MethodName = "entropy";

    /// <summary>Bins of the linear |x| histogram the threshold is searched on.</summary>
    public const int ReferenceBins = 2048;

    /// <summary>Levels Q is quantized to: the 128 magnitudes of one side of 8 bits.</summary>
    public const int QuantizedBins = 128;

    // Q's mass in a bin where P has mass but Q none, in values (ORT's smooth_distribution adds 1e-4 to such bins).
    private const double EmptyBinMass = 1e-4;

    public string Name => MethodName;

    public (float Min, float Max) Estimate(ActivationStats stats)
    {
        RangeEstimators.RequireValues(stats);
        double absMax = stats.AbsMax;
        if (absMax == 0)
        {
            return (stats.Min, stats.Max);
        }

        var bins = BestThresholdBins(LinearAbsHistogram(stats, absMax));
        return bins == ReferenceBins ? (stats.Min, stats.Max) : RangeEstimators.ClipSymmetric(stats, bins * absMax / ReferenceBins);
    }

    /// <summary>|x| in <see cref="ReferenceBins"/> equal bins over [0, absMax], each stored bin spread evenly over the bins it overlaps.</summary>
    internal static double[] LinearAbsHistogram(ActivationStats stats, double absMax)
    {
        var histogram = new double[ReferenceBins];
        var width = absMax / ReferenceBins;
        foreach (var bin in stats.Histogram())
        {
            var (lo, hi) = bin.Lower >= 0 ? (bin.Lower, bin.Upper) : (-bin.Upper, -bin.Lower);
            lo = Math.Clamp(lo, 0, absMax);
            hi = Math.Clamp(hi, lo, absMax);
            var first = Math.Min((int)(lo / width), ReferenceBins - 1);
            var last = Math.Min((int)(hi / width), ReferenceBins - 1);
            if (first == last)
            {
                histogram[first] += bin.Count;
                continue;
            }

            for (var j = first; j <= last; j++)
            {
                var overlap = Math.Min(hi, (j + 1) * width) - Math.Max(lo, j * width);
                if (overlap > 0)
                {
                    histogram[j] += bin.Count * overlap / (hi - lo);
                }
            }
        }

        return histogram;
    }

    /// <summary>
    /// The number of leading bins of <paramref name="h"/> whose threshold gives the least KL(P || Q); when given,
    /// <paramref name="divergenceByBins"/>[i] receives the divergence of i bins (infinity where none lies within).
    /// </summary>
    internal static int BestThresholdBins(double[] h, double[]? divergenceByBins = null)
    {
        var n = h.Length;
        // Prefix sums: mass, Σ h ln h, and non-zero bins, so that each candidate costs one pass over its 128 levels.
        var mass = new double[n + 1];
        var hLogH = new double[n + 1];
        var nonZero = new int[n + 1];
        for (var j = 0; j < n; j++)
        {
            mass[j + 1] = mass[j] + h[j];
            hLogH[j + 1] = hLogH[j] + (h[j] > 0 ? h[j] * Math.Log(h[j]) : 0);
            nonZero[j + 1] = nonZero[j] + (h[j] > 0 ? 1 : 0);
        }

        var total = mass[n];
        var logTotal = Math.Log(total);
        var best = n;
        var bestKl = double.PositiveInfinity;
        for (var i = QuantizedBins; i <= n; i++)
        {
            var sliced = mass[i];
            if (!(sliced > 0))
            {
                divergenceByBins?[i] = double.PositiveInfinity;
                continue;
            }

            var outliers = Math.Max(total - sliced, 0);
            var lastP = h[i - 1] + outliers;

            // Σ P ln P with P = p / total: the untouched bins from the prefix sums, the last bin (with the outliers) apart.
            var pLogP = (hLogH[i - 1] - mass[i - 1] * logTotal + (lastP > 0 ? lastP * (Math.Log(lastP) - logTotal) : 0)) / total;

            // Σ P ln Q, level by level: Q is the level's mass spread evenly over its bins where p > 0, normalized by sliced.
            var pLogQ = 0.0;
            for (var k = 0; k < QuantizedBins; k++)
            {
                var start = (int)((long)k * i / QuantizedBins);
                var end = (int)((long)(k + 1) * i / QuantizedBins);
                var levelMass = mass[end] - mass[start];
                var pMass = levelMass;
                var pBins = nonZero[end] - nonZero[start];
                if (k == QuantizedBins - 1)
                {
                    pMass += outliers;
                    if (h[i - 1] == 0 && outliers > 0)
                    {
                        pBins++;
                    }
                }

                if (pMass > 0)
                {
                    var q = (levelMass > 0 ? levelMass : EmptyBinMass) / pBins / sliced;
                    pLogQ += pMass / total * Math.Log(q);
                }
            }

            var kl = pLogP - pLogQ;
            divergenceByBins?[i] = kl;
            if (kl < bestKl)
            {
                bestKl = kl;
                best = i;
            }
        }

        return best;
    }
}

namespace ModelCompiler.Calibration;

/// <summary>
/// Running statistics of one activation tensor (the input of one or more layers), over its last axis as
/// channels. Memory is fixed by the channel count: nothing grows with the number of calibration tokens.
/// </summary>
public sealed class ActivationStats
{
    // Signed histogram, one half per sign, each over |x|: every octave from 2^-24 to 2^24 split into 128 equal-width
    // bins (the float's exponent and top seven mantissa bits, read straight from its bits: no logarithm per value),
    // plus one bin below (zero and |x| < 2^-24) and one above that range. A bin spans at most 1/128 of its lower edge,
    // so percentiles are within 0.8%. 2 x 6146 counts: fixed memory, whatever the number of calibration values.
    private const int MantissaBits = 7;
    private const int BinsPerOctave = 1 << MantissaBits;
    private const int MinExponent = -24;
    private const int MaxExponent = 24;
    private const int Bins = (MaxExponent - MinExponent) * BinsPerOctave + 2;
    private const int FirstBinKey = (127 + MinExponent) << MantissaBits; // (bits >> 16) of 2^MinExponent

    private readonly float[] _channelAbsMax;
    private readonly long[] _histogram = new long[2 * Bins]; // [0, Bins): sign bit clear; [Bins, 2 Bins): set (-0 too), both by |x|
    private long _count;
    private long _tokens;
    private double _sum, _sum2, _sum3, _sum4;
    private float _min = float.PositiveInfinity, _max = float.NegativeInfinity;
    private double _tokenAbsMaxSum;
    private float _tokenAbsMaxMax;

    public ActivationStats(int channels)
    {
        if (channels <= 0) throw new ArgumentOutOfRangeException(nameof(channels));
        Channels = channels;
        _channelAbsMax = new float[channels];
    }

    public int Channels { get; }
    public long Count => _count;
    public float Min => _min;
    public float Max => _max;

    /// <summary>Adds values laid out [tokens, channels]. Returns false (adding nothing) when a value is NaN or infinite.</summary>
    public bool Observe(ReadOnlySpan<float> values)
    {
        if (values.Length % Channels != 0) throw new ArgumentException($"{values.Length} values are not a multiple of {Channels} channels");
        foreach (var v in values)
            if (!float.IsFinite(v)) return false;

        var histogram = _histogram;
        for (var start = 0; start < values.Length; start += Channels)
        {
            var row = values.Slice(start, Channels);
            var tokenMax = 0f;
            for (var c = 0; c < row.Length; c++)
            {
                var v = row[c];
                var a = MathF.Abs(v);
                if (a > _channelAbsMax[c]) _channelAbsMax[c] = a;
                if (a > tokenMax) tokenMax = a;
                if (v < _min) _min = v;
                if (v > _max) _max = v;
                double d = v, d2 = d * d;
                _sum += d;
                _sum2 += d2;
                _sum3 += d2 * d;
                _sum4 += d2 * d2;
                histogram[((BitConverter.SingleToInt32Bits(v) >> 31) & Bins) + Bin(a)]++; // the sign bit picks the half without a branch
            }
            _tokenAbsMaxSum += tokenMax;
            if (tokenMax > _tokenAbsMaxMax) _tokenAbsMaxMax = tokenMax;
            _tokens++;
        }
        _count += values.Length;
        return true;
    }

    private static int Bin(float a)
    {
        // The bits of a non-negative float grow with its value: exponent and top mantissa bits are the bin.
        var bin = (BitConverter.SingleToInt32Bits(a) >> (23 - MantissaBits)) - FirstBinKey + 1;
        return Math.Clamp(bin, 0, Bins - 1);
    }

    private static double BinLowerEdge(int bin) => bin == 0 ? 0 : BinUpperEdge(bin - 1);

    private static double BinUpperEdge(int bin) =>
        bin == Bins - 1 ? double.PositiveInfinity : Math.ScaleB(1 + (double)(bin % BinsPerOctave) / BinsPerOctave, MinExponent + bin / BinsPerOctave);

    /// <summary>The |x| value below which <paramref name="fraction"/> of all values lie (upper edge of the histogram bin).</summary>
    public double AbsPercentile(double fraction)
    {
        if (_count == 0) return 0;
        var target = (long)Math.Ceiling(fraction * _count);
        long seen = 0;
        for (var b = 0; b < Bins; b++)
        {
            seen += _histogram[b] + _histogram[Bins + b];
            if (seen >= target) return Math.Min(BinUpperEdge(b), AbsMax);
        }
        return AbsMax;
    }

    /// <summary>
    /// The non-empty bins of the signed histogram in ascending order of value: [Lower, Upper) for x &gt;= 0,
    /// (Lower, Upper] for x &lt; 0, each clipped to the observed [<see cref="Min"/>, <see cref="Max"/>] (so the end
    /// bins are finite). A bin spans at most 1/128 of its |x| edge nearer zero; the counts sum to <see cref="Count"/>.
    /// </summary>
    public IEnumerable<HistogramBin> Histogram()
    {
        for (var b = Bins - 1; b >= 0; b--)
            if (_histogram[Bins + b] is var count and > 0)
                yield return new HistogramBin(Math.Max(-BinUpperEdge(b), _min), Math.Min(-BinLowerEdge(b), _max), count);
        for (var b = 0; b < Bins; b++)
            if (_histogram[b] is var count and > 0)
                yield return new HistogramBin(Math.Max(BinLowerEdge(b), _min), Math.Min(BinUpperEdge(b), _max), count);
    }

    public float AbsMax => Math.Max(MathF.Abs(_min), MathF.Abs(_max));

    public ReadOnlySpan<float> ChannelAbsMax => _channelAbsMax;

    public ActivationSummary Summarize()
    {
        if (_count == 0) throw new InvalidOperationException("no values observed");
        double n = _count;
        var mean = _sum / n;
        var m2 = _sum2 / n - mean * mean;
        var m4 = _sum4 / n - 4 * mean * (_sum3 / n) + 6 * mean * mean * (_sum2 / n) - 3 * Math.Pow(mean, 4);
        var std = Math.Sqrt(Math.Max(m2, 0));
        var kurtosis = m2 > 0 ? m4 / (m2 * m2) : 0;
        var m3 = _sum3 / n - 3 * mean * (_sum2 / n) + 2 * Math.Pow(mean, 3);
        var skewness = m2 > 0 ? m3 / Math.Pow(m2, 1.5) : 0;

        var sorted = _channelAbsMax.ToArray();
        Array.Sort(sorted);
        var median = sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : 0.5 * (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]);
        var spike = median > 0 ? sorted[^1] / median : 0;

        // Outliers: values beyond 6 standard deviations of the mean, counted from the histogram of |x|.
        var threshold = Math.Abs(mean) + 6 * std;
        long outliers = 0;
        for (var b = 1; b < Bins; b++)
            if (BinLowerEdge(b) >= threshold) outliers += _histogram[b] + _histogram[Bins + b];

        return new ActivationSummary(
            Values: _count, Tokens: _tokens, Channels: Channels,
            Min: _min, Max: _max, AbsMax: AbsMax, Mean: mean, Std: std, Kurtosis: kurtosis, Skewness: skewness,
            AbsP99: AbsPercentile(0.99), AbsP999: AbsPercentile(0.999), AbsP9999: AbsPercentile(0.9999),
            OutlierRatio: outliers / n, SpikeScore: spike,
            ChannelAbsMaxMedian: median, TokenAbsMaxMean: _tokenAbsMaxSum / _tokens, TokenAbsMaxMax: _tokenAbsMaxMax,
            TopChannels: TopChannels(4));
    }

    private int[] TopChannels(int k) =>
        Enumerable.Range(0, Channels).OrderByDescending(c => _channelAbsMax[c]).ThenBy(c => c).Take(Math.Min(k, Channels)).ToArray();
}

/// <summary>Values of one histogram bin of <see cref="ActivationStats.Histogram"/>: <paramref name="Count"/> values between <paramref name="Lower"/> and <paramref name="Upper"/>.</summary>
public readonly record struct HistogramBin(double Lower, double Upper, long Count);

/// <summary>What the manifest records and the predictor reads about one activation.</summary>
public sealed record ActivationSummary(
    long Values, long Tokens, int Channels,
    float Min, float Max, float AbsMax, double Mean, double Std, double Kurtosis, double Skewness,
    double AbsP99, double AbsP999, double AbsP9999,
    double OutlierRatio, double SpikeScore,
    double ChannelAbsMaxMedian, double TokenAbsMaxMean, float TokenAbsMaxMax,
    int[] TopChannels);

namespace ModelCompiler.Calibration;

/// <summary>
/// Running statistics of one activation tensor (the input of one or more layers), over its last axis as
/// channels. Memory is fixed by the channel count: nothing grows with the number of calibration tokens.
/// </summary>
public sealed class ActivationStats
{
    // |x| histogram: each octave from 2^-24 to 2^24 split into 16 equal-width bins (the float's exponent and top
    // four mantissa bits, so no logarithm per value), plus one bin below and one above that range. A bin spans at most 1/16 of
    // its lower edge, so percentiles are within 6.25%.
    private const int BinsPerOctave = 16;
    private const int MinExponent = -24;
    private const int MaxExponent = 24;
    private const int Bins = (MaxExponent - MinExponent) * BinsPerOctave + 2;

    private readonly float[] _channelAbsMax;
    private readonly long[] _histogram = new long[Bins];
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
                _histogram[Bin(a)]++;
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
        var bits = BitConverter.SingleToInt32Bits(a);
        var octave = ((bits >> 23) & 0xFF) - 127 - MinExponent;
        if (octave < 0) return 0;
        if (octave >= MaxExponent - MinExponent) return Bins - 1;
        return 1 + octave * BinsPerOctave + ((bits >> 19) & 0xF);
    }

    private static double BinUpperEdge(int bin)
    {
        if (bin == 0) return Math.Pow(2, MinExponent);
        if (bin == Bins - 1) return double.PositiveInfinity;
        var octave = (bin - 1) / BinsPerOctave;
        var step = (bin - 1) % BinsPerOctave;
        return Math.Pow(2, MinExponent + octave) * (1 + (step + 1.0) / BinsPerOctave);
    }

    /// <summary>The |x| value below which <paramref name="fraction"/> of all values lie (upper edge of the histogram bin).</summary>
    public double AbsPercentile(double fraction)
    {
        if (_count == 0) return 0;
        var target = (long)Math.Ceiling(fraction * _count);
        long seen = 0;
        for (var b = 0; b < Bins; b++)
        {
            seen += _histogram[b];
            if (seen >= target) return Math.Min(BinUpperEdge(b), AbsMax);
        }
        return AbsMax;
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
            if (BinUpperEdge(b - 1) >= threshold) outliers += _histogram[b];

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

/// <summary>What the manifest records and the predictor reads about one activation.</summary>
public sealed record ActivationSummary(
    long Values, long Tokens, int Channels,
    float Min, float Max, float AbsMax, double Mean, double Std, double Kurtosis, double Skewness,
    double AbsP99, double AbsP999, double AbsP9999,
    double OutlierRatio, double SpikeScore,
    double ChannelAbsMaxMedian, double TokenAbsMaxMean, float TokenAbsMaxMax,
    int[] TopChannels);

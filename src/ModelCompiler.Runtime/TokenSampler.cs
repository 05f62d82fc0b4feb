namespace ModelCompiler.Runtime;

/// <summary>Chooses the next token from one position's logits under <see cref="GenerationOptions"/>.</summary>
public sealed class TokenSampler
{
    private readonly GenerationOptions _options;
    private readonly Random _random;
    private int[] _order = [];
    private double[] _weights = [];

    /// <summary>A sampler for <paramref name="options"/>; <see langword="null"/> chooses greedily.</summary>
    public TokenSampler(GenerationOptions? options = null)
    {
        _options = options ?? new GenerationOptions();
        _options.Validate();
        _random = _options.Seed is int seed ? new Random(seed) : new Random();
    }

    /// <summary>Whether this sampler always takes the most likely token.</summary>
    public bool IsGreedy => !(_options.Temperature > 0f);

    /// <summary>The index of the largest logit; the first one on ties.</summary>
    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        if (logits.IsEmpty)
        {
            throw new ArgumentException("The logits are empty.", nameof(logits));
        }

        int best = 0;
        float bestScore = logits[0];
        for (int i = 1; i < logits.Length; i++)
        {
            if (logits[i] > bestScore)
            {
                bestScore = logits[i];
                best = i;
            }
        }

        return best;
    }

    /// <summary>The next token: the argmax when greedy, else a draw from the tempered, top-k and top-p filtered distribution.</summary>
    public int Next(ReadOnlySpan<float> logits)
    {
        if (IsGreedy)
        {
            return ArgMax(logits);
        }

        int n = logits.Length;
        if (n == 0)
        {
            throw new ArgumentException("The logits are empty.", nameof(logits));
        }

        if (_order.Length != n)
        {
            _order = new int[n];
            _weights = new double[n];
        }

        for (int i = 0; i < n; i++)
        {
            _order[i] = i;
        }

        // Most likely first; ties keep the lower id first so that draws are reproducible.
        var scores = logits.ToArray();
        Array.Sort(_order, (a, b) => scores[a] != scores[b] ? scores[b].CompareTo(scores[a]) : a.CompareTo(b));
        int keep = _options.TopK > 0 ? Math.Min(_options.TopK, n) : n;

        double max = scores[_order[0]];
        double total = 0;
        for (int r = 0; r < keep; r++)
        {
            double w = Math.Exp((scores[_order[r]] - max) / _options.Temperature);
            _weights[r] = w;
            total += w;
        }

        if (_options.TopP < 1f)
        {
            double cumulative = 0;
            for (int r = 0; r < keep; r++)
            {
                cumulative += _weights[r] / total;
                if (cumulative >= _options.TopP)
                {
                    keep = r + 1;
                    break;
                }
            }

            total = 0;
            for (int r = 0; r < keep; r++)
            {
                total += _weights[r];
            }
        }

        double u = _random.NextDouble() * total;
        for (int r = 0; r < keep; r++)
        {
            u -= _weights[r];
            if (u < 0)
            {
                return _order[r];
            }
        }

        return _order[keep - 1];
    }
}

namespace ModelCompiler.Runtime;

/// <summary>Sampling settings: temperature 0 means greedy (argmax).</summary>
public sealed record SamplingOptions(float Temperature = 0f, float TopP = 1f, int Seed = 0)
{
    public static SamplingOptions Greedy { get; } = new();
}

/// <summary>
/// Decodes with the KV cache: the prompt runs in one step, then one token per step, each step feeding the
/// previous step's present.* tensors back as past_key_values.*.
/// </summary>
public static class TextGenerator
{
    /// <summary>Yields up to <paramref name="maxNewTokens"/> new tokens; stops after <paramref name="stopToken"/> (which it does not yield).</summary>
    public static IEnumerable<int> Generate(DecoderSession session, IReadOnlyList<int> prompt, int maxNewTokens, SamplingOptions? sampling = null, int? stopToken = null)
    {
        if (prompt.Count == 0) throw new ArgumentException("the prompt needs at least one token (e.g. BOS)", nameof(prompt));
        ArgumentOutOfRangeException.ThrowIfNegative(maxNewTokens);
        sampling ??= SamplingOptions.Greedy;
        var random = new Random(sampling.Seed);
        // A decoder exported without past_key_values has no cache to carry: it sees the whole sequence each step.
        using var cache = session.Layers > 0 ? new KvCache() : null;
        var sequence = prompt.Select(t => (long)t).ToList();
        long[] input = sequence.ToArray();
        for (var n = 0; n < maxNewTokens; n++)
        {
            if ((cache?.Length ?? 0) + input.Length > session.MaxPositions) yield break; // the model cannot position more tokens
            int next;
            using (var step = session.Run(input, cache))
                next = Pick(step.LogitsAt(step.SequenceLength - 1), sampling, random);
            if (next == stopToken) yield break;
            yield return next;
            sequence.Add(next);
            input = cache is null ? sequence.ToArray() : [next];
        }
    }

    /// <summary>Same tokens as <see cref="Generate"/> with greedy sampling, but every step recomputes the whole sequence (no cache). For tests.</summary>
    public static List<int> GenerateWithoutCache(DecoderSession session, IReadOnlyList<int> prompt, int maxNewTokens)
    {
        var seq = prompt.Select(t => (long)t).ToList();
        var result = new List<int>();
        for (var n = 0; n < maxNewTokens; n++)
        {
            using var step = session.Run(seq.ToArray());
            var next = Evaluation.PerplexityEvaluator.ArgMax(step.LogitsAt(step.SequenceLength - 1));
            result.Add(next);
            seq.Add(next);
        }
        return result;
    }

    internal static int Pick(ReadOnlySpan<float> logits, SamplingOptions s, Random random)
    {
        if (s.Temperature <= 0) return Evaluation.PerplexityEvaluator.ArgMax(logits);
        var max = float.NegativeInfinity;
        foreach (var v in logits) if (v > max) max = v;
        var probs = new double[logits.Length];
        double sum = 0;
        for (var i = 0; i < logits.Length; i++) sum += probs[i] = Math.Exp((logits[i] - max) / s.Temperature);
        for (var i = 0; i < probs.Length; i++) probs[i] /= sum;

        // Nucleus: the smallest set of most likely tokens whose mass reaches top_p. Sorted by (probability
        // descending, id ascending): a total order, so any sort gives the same permutation; an array sort of
        // value tuples is several times faster than LINQ's stable OrderBy over a 32000-token vocabulary.
        var keyed = new (double NegativeProbability, int Id)[probs.Length];
        for (var i = 0; i < probs.Length; i++) keyed[i] = (-probs[i], i);
        Array.Sort(keyed);
        var order = new int[keyed.Length];
        for (var i = 0; i < keyed.Length; i++) order[i] = keyed[i].Id;
        var keep = order.Length;
        if (s.TopP < 1f)
        {
            double mass = 0;
            for (var k = 0; k < order.Length; k++)
            {
                mass += probs[order[k]];
                if (mass + 1e-6 >= s.TopP) { keep = k + 1; break; } // TopP is a float: 0.8f > 0.5 + 0.3
            }
        }
        double kept = 0;
        for (var k = 0; k < keep; k++) kept += probs[order[k]];
        var r = random.NextDouble() * kept;
        for (var k = 0; k < keep; k++)
        {
            r -= probs[order[k]];
            if (r <= 0) return order[k];
        }
        return order[keep - 1];
    }
}

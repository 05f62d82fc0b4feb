using ModelCompiler.Calibration;
using ModelCompiler.Evaluation;
using ModelCompiler.Runtime;

namespace ModelCompiler.Compilation;

/// <summary>
/// Data-free calibration/evaluation: token ids sampled from the fp32 model itself (temperature 1), in windows
/// of <c>context</c> tokens that each start at BOS. The same seed gives the same tokens.
/// </summary>
public static class GeneratedTokens
{
    /// <summary>
    /// Windows sampled together, one row each, per forward pass. Decoding one token is bound by reading every
    /// weight once; eight rows read them once for eight tokens (a 1 GB fp32 model samples about 6× faster on two
    /// cores). Fixed, so the tokens never depend on the machine.
    /// </summary>
    public const int Batch = 8;

    public static TokenStream Sample(string modelPath, int count, int context, int seed, string role)
    {
        using var options = Deterministic.SessionOptions();
        using var session = new DecoderSession(modelPath, options);
        var meta = session.Session.ModelMetadata.CustomMetadataMap;
        var bos = meta.TryGetValue(Import.Llama2cImporter.MetadataKeys.BosTokenId, out var b) && int.TryParse(b, out var id) ? id : 1;

        var lengths = new List<int>();
        for (var left = count; left > 0; left -= context) lengths.Add(Math.Min(context, left));
        var windows = new int[lengths.Count][];
        for (var first = 0; first < lengths.Count;)
        {
            // Rows of one forward pass share a length: the last, shorter window runs in a group of its own.
            var rows = Enumerable.Range(first, Math.Min(Batch, lengths.Count - first)).TakeWhile(w => lengths[w] == lengths[first]).ToArray();
            foreach (var (w, tokens) in rows.Zip(SampleRows(session, bos, lengths[first], rows.Select(w => unchecked(seed * 7919 + w)).ToArray())))
                windows[w] = tokens;
            first += rows.Length;
        }
        return TokenStream.FromTokens($"generated:{role}:seed={seed}", windows.SelectMany(w => w).ToArray(), windows.Length);
    }

    /// <summary>One window per seed, each <paramref name="length"/> tokens from BOS, sampled side by side.</summary>
    private static int[][] SampleRows(DecoderSession session, int bos, int length, int[] seeds)
    {
        var batch = seeds.Length;
        var windows = seeds.Select(_ => new List<int>(length) { bos }).ToArray();
        var random = seeds.Select(s => new Random(s)).ToArray();
        var sampling = new SamplingOptions(1f, 1f);
        using var cache = session.Layers > 0 ? new KvCache() : null;
        var input = Enumerable.Repeat((long)bos, batch).ToArray();
        while (windows[0].Count < length)
        {
            using var step = session.Run(input, batch, cache);
            for (var r = 0; r < batch; r++)
                windows[r].Add(TextGenerator.Pick(step.LogitsAt(r, step.SequenceLength - 1), sampling, random[r]));
            // Without a KV cache the model sees each whole window again.
            input = cache is null
                ? windows.SelectMany(w => w.Select(t => (long)t)).ToArray()
                : windows.Select(w => (long)w[^1]).ToArray();
        }
        return windows.Select(w => w.ToArray()).ToArray();
    }
}

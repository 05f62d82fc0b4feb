using System.Diagnostics;
using ModelCompiler.Runtime;

namespace ModelCompiler.Benchmarking;

/// <summary>What one benchmark measures: a prefill of <see cref="PrefillTokens"/> tokens, then <see cref="DecodeTokens"/> decode steps.</summary>
public sealed record BenchmarkSettings(int PrefillTokens = 256, int DecodeTokens = 32, int Warmup = 1, int Repeats = 5, int Seed = 1234);

/// <summary>The figures for one model: medians over the repeats, and the peak resident memory of a run alone.</summary>
public sealed record BenchmarkResult(
    string Model,
    double PrefillTokensPerSecond,
    double DecodeTokensPerSecond,
    long PeakRssBytes,
    IReadOnlyList<double> PrefillSeconds,
    IReadOnlyList<double> DecodeSeconds);

/// <summary>Progress of a benchmark: which model, which phase, which repeat.</summary>
public readonly record struct BenchmarkProgress(string Model, string Phase, int Repeat, int Repeats);

/// <summary>
/// Times decoder models the way an app uses them: one forward over the prompt (prefill), then one token per step
/// with the KV cache (decode). Several models are timed interleaved, repeat by repeat, so that a slow moment of a
/// shared machine hits every model alike and their ratios stay meaningful.
/// </summary>
public static class DecoderBenchmark
{
    /// <summary>
    /// Runs the benchmark. <paramref name="open"/> creates a session for a model path; each model is first run
    /// alone (its peak RSS measured, warm-up included), then all are opened together and timed interleaved.
    /// </summary>
    public static IReadOnlyList<BenchmarkResult> Run(
        IReadOnlyList<string> models, Func<string, DecoderSession> open, BenchmarkSettings settings, IProgress<BenchmarkProgress>? progress = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.PrefillTokens, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(settings.DecodeTokens);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.Repeats, 1);

        // Phase 1: each model alone, for its memory figure (and so every session has been warmed once).
        var peaks = new long[models.Count];
        for (var m = 0; m < models.Count; m++)
        {
            progress?.Report(new BenchmarkProgress(models[m], "memory", 1, 1));
            GC.Collect();
            GC.WaitForPendingFinalizers();
            var rss = PeakRss.Reset();
            using (var session = open(models[m]))
                RunOnce(session, Prompt(session, settings), settings.DecodeTokens);
            peaks[m] = rss.Peak();
        }

        // Phase 2: all sessions open, timed repeat by repeat, model by model.
        var sessions = new List<DecoderSession>();
        try
        {
            foreach (var model in models) sessions.Add(open(model));
            var prompts = sessions.Select(s => Prompt(s, settings)).ToList();
            for (var w = 0; w < settings.Warmup; w++)
                for (var m = 0; m < sessions.Count; m++)
                {
                    progress?.Report(new BenchmarkProgress(models[m], "warmup", w + 1, settings.Warmup));
                    RunOnce(sessions[m], prompts[m], settings.DecodeTokens);
                }

            var prefill = models.Select(_ => new List<double>()).ToList();
            var decode = models.Select(_ => new List<double>()).ToList();
            for (var r = 0; r < settings.Repeats; r++)
                for (var m = 0; m < sessions.Count; m++)
                {
                    progress?.Report(new BenchmarkProgress(models[m], "run", r + 1, settings.Repeats));
                    var (p, d) = RunOnce(sessions[m], prompts[m], settings.DecodeTokens);
                    prefill[m].Add(p);
                    decode[m].Add(d);
                }

            return models.Select((model, m) => new BenchmarkResult(
                model,
                settings.PrefillTokens / Median(prefill[m]),
                settings.DecodeTokens == 0 ? 0 : settings.DecodeTokens / Median(decode[m]),
                peaks[m],
                prefill[m],
                decode[m])).ToList();
        }
        finally
        {
            foreach (var s in sessions) s.Dispose();
        }
    }

    /// <summary>
    /// One untimed prefill + decode with ONNX Runtime's profiler on, after the timed runs so it cannot slow them;
    /// <paramref name="openProfiled"/> returns a session whose options enable profiling. Returns the profile file.
    /// </summary>
    public static string Profile(string model, Func<string, DecoderSession> openProfiled, BenchmarkSettings settings)
    {
        using var session = openProfiled(model);
        RunOnce(session, Prompt(session, settings), settings.DecodeTokens);
        return session.Session.EndProfiling();
    }

    /// <summary>Each result's figures over the first (baseline) result's: prefill, decode and peak RSS.</summary>
    public static IReadOnlyDictionary<string, double> Ratios(BenchmarkResult result, BenchmarkResult baseline) => new Dictionary<string, double>
    {
        ["prefill_tokens_per_s"] = result.PrefillTokensPerSecond / baseline.PrefillTokensPerSecond,
        ["decode_tokens_per_s"] = baseline.DecodeTokensPerSecond == 0 ? 0 : result.DecodeTokensPerSecond / baseline.DecodeTokensPerSecond,
        ["peak_rss_bytes"] = (double)result.PeakRssBytes / baseline.PeakRssBytes,
    };

    public static double Median(IReadOnlyList<double> values)
    {
        var sorted = values.Order().ToArray();
        var mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    /// <summary>A fixed pseudo-random prompt over the model's vocabulary (the same for every run of a model).</summary>
    private static long[] Prompt(DecoderSession session, BenchmarkSettings settings)
    {
        var total = settings.PrefillTokens + settings.DecodeTokens;
        if (total > session.MaxPositions)
            throw new ModelCompilerException("MC1006",
                $"--prefill {settings.PrefillTokens} + --decode {settings.DecodeTokens} exceed the model's maximum sequence length {session.MaxPositions}.",
                Path.GetFullPath(session.ModelPath));
        var vocab = session.VocabSize > 0 ? session.VocabSize : 2;
        var random = new Random(settings.Seed);
        var prompt = new long[settings.PrefillTokens];
        for (var i = 0; i < prompt.Length; i++) prompt[i] = random.Next(vocab);
        return prompt;
    }

    /// <summary>One prefill then <paramref name="decodeTokens"/> greedy steps; returns (prefill, decode) seconds.</summary>
    private static (double Prefill, double Decode) RunOnce(DecoderSession session, long[] prompt, int decodeTokens)
    {
        using var cache = new KvCache();
        var clock = Stopwatch.StartNew();
        long next;
        using (var step = session.Run(prompt, session.Layers > 0 ? cache : null))
            next = ArgMax(step.LogitsAt(step.SequenceLength - 1));
        var prefill = clock.Elapsed.TotalSeconds;
        if (session.Layers == 0 || decodeTokens == 0) return (prefill, 0);

        clock.Restart();
        Span<long> one = stackalloc long[1];
        for (var t = 0; t < decodeTokens; t++)
        {
            one[0] = next;
            using var step = session.Run(one, cache);
            next = ArgMax(step.LogitsAt(0));
        }
        return (prefill, clock.Elapsed.TotalSeconds);
    }

    private static int ArgMax(ReadOnlySpan<float> logits)
    {
        var best = 0;
        for (var i = 1; i < logits.Length; i++)
            if (logits[i] > logits[best]) best = i;
        return best;
    }
}

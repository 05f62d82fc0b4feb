using System.Diagnostics;
using System.Runtime.InteropServices;
using ModelCompiler.Calibration;
using ModelCompiler.Evaluation;
using ModelCompiler.Runtime;

namespace ModelCompiler.Validation;

public enum ProviderStatus { Ok, Unavailable, Failed }

/// <summary>fp32 vs quantized on one execution provider, over the same evaluation windows.</summary>
public sealed record ProviderValidation(
    string Provider, ProviderStatus Status, string? Reason,
    double Fp32Perplexity, double QuantizedPerplexity, double PerplexityIncreasePct,
    double MeanKlDivergence, double Top1Agreement, int Tokens,
    double Fp32MillisecondsPerWindow, double QuantizedMillisecondsPerWindow)
{
    public static ProviderValidation NotRun(string provider, ProviderStatus status, string reason) =>
        new(provider, status, reason, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, 0, double.NaN, double.NaN);

    public double Speedup => QuantizedMillisecondsPerWindow > 0 ? Fp32MillisecondsPerWindow / QuantizedMillisecondsPerWindow : double.NaN;
}

/// <summary>
/// Compares the original and the quantized model on each requested execution provider over the evaluation text:
/// perplexity of both, KL(fp32 ‖ quantized) of the next-token distributions, top-1 agreement, and time per window.
/// The two models never share memory: the fp32 session runs first and writes its logits of the predicted positions
/// to a file (<see cref="Fp32Reference"/>), is disposed, and the quantized session then reads them back window by
/// window. The figures are those of comparing both in memory, bit for bit: the stored logits are the fp32 floats.
/// </summary>
public static class QuantizationValidator
{
    /// <param name="references">fp32 references by provider, reused across calls (the closed loop validates several
    /// candidates against the same fp32 model); the caller deletes their files.</param>
    public static IReadOnlyList<ProviderValidation> Validate(string fp32Model, string quantizedModel, TokenStream tokens, int context,
        IReadOnlyList<string> providers, IReadOnlyCollection<string> required, string workDir, IDictionary<string, Fp32Reference> references,
        Func<string, IProgress<EvaluationProgress>?>? progressFor = null)
    {
        var results = new List<ProviderValidation>();
        foreach (var provider in providers)
        {
            var probe = ExecutionProviders.TryCreate(provider, out var reason);
            if (probe is null)
            {
                if (required.Contains(provider))
                    throw new ModelCompilerException("MC3003", $"execution provider '{provider}' is required by the spec's validation.require but unavailable: {reason}.");
                results.Add(ProviderValidation.NotRun(provider, ProviderStatus.Unavailable, reason ?? "unavailable"));
                continue;
            }
            probe.Dispose();
            try
            {
                var progress = progressFor?.Invoke(provider);
                if (!references.TryGetValue(provider, out var reference))
                {
                    reference = Fp32Reference.Compute(provider, fp32Model, tokens, context, Path.Combine(workDir, $"fp32-logits.{provider}.bin"), progress);
                    references[provider] = reference;
                    ProcessMemory.Release(); // the fp32 session is gone: give its memory back before the quantized one loads
                }
                results.Add(Compare(provider, reference, quantizedModel, tokens, context, progress));
            }
            catch (ModelCompilerException e) when (!required.Contains(provider))
            {
                results.Add(ProviderValidation.NotRun(provider, ProviderStatus.Failed, e.Message));
            }
        }
        return results;
    }

    public static ProviderValidation Compare(string provider, Fp32Reference reference, string quantizedModel, TokenStream tokens, int context, IProgress<EvaluationProgress>? progress)
    {
        var windows = tokens.Windows(context).ToList();
        var total = tokens.PredictedTokens(context);
        if (total == 0)
            throw new ModelCompilerException("MC1033", "the evaluation data gives fewer than 2 tokens; nothing to compare.", tokens.SourcePath);
        using var options = Deterministic.SessionOptions(provider);
        using var candidate = new DecoderSession(quantizedModel, options);
        using var stored = reference.Open();
        double nllRef = 0, nllQ = 0, kl = 0;
        long agree = 0;
        var done = 0;
        var tQ = new Stopwatch();
        var clock = Stopwatch.StartNew();
        foreach (var window in windows)
        {
            var ids = PerplexityEvaluator.ToInt64(window.Tokens.Span);
            tQ.Start();
            using var b = candidate.Run(ids);
            tQ.Stop();
            var logits = stored.Next(ids.Length - 1);
            for (var t = 0; t < ids.Length - 1; t++)
            {
                var la = logits.Slice(t * reference.Vocabulary, reference.Vocabulary);
                var lb = b.LogitsAt(t);
                var target = (int)ids[t + 1];
                var (nA, nB, k, same) = TokenComparison.Compare(la, PerplexityEvaluator.LogSumExp(la), lb, target);
                nllRef += nA;
                nllQ += nB;
                kl += k;
                if (same) agree++;
            }
            done += ids.Length - 1;
            progress?.Report(new EvaluationProgress(window.Index + 1, windows.Count, done, total, clock.Elapsed.TotalSeconds));
        }
        var pplRef = Math.Exp(nllRef / total);
        var pplQ = Math.Exp(nllQ / total);
        return new ProviderValidation(provider, ProviderStatus.Ok, null, pplRef, pplQ, (pplQ / pplRef - 1) * 100, kl / total, (double)agree / total, total,
            reference.MillisecondsPerWindow, tQ.Elapsed.TotalMilliseconds / windows.Count);
    }
}

/// <summary>
/// The fp32 model's logits of every predicted position of the evaluation windows (positions 0..len-2 of each
/// window, [positions, vocabulary] float32), in a file: what validation compares the quantized model against,
/// without holding the fp32 session or all logits in memory.
/// </summary>
public sealed class Fp32Reference
{
    private Fp32Reference(string path, int vocabulary, double millisecondsPerWindow)
    {
        Path = path;
        Vocabulary = vocabulary;
        MillisecondsPerWindow = millisecondsPerWindow;
    }

    public string Path { get; }
    public int Vocabulary { get; }
    /// <summary>fp32 forward time per window on this provider.</summary>
    public double MillisecondsPerWindow { get; }

    public static Fp32Reference Compute(string provider, string fp32Model, TokenStream tokens, int context, string path, IProgress<EvaluationProgress>? progress)
    {
        var windows = tokens.Windows(context).ToList();
        var total = tokens.PredictedTokens(context);
        using var options = Deterministic.SessionOptions(provider);
        using var session = new DecoderSession(fp32Model, options);
        var vocabulary = 0;
        var done = 0;
        var timer = new Stopwatch();
        var clock = Stopwatch.StartNew();
        using (var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            foreach (var window in windows)
            {
                var ids = PerplexityEvaluator.ToInt64(window.Tokens.Span);
                timer.Start();
                using var step = session.Run(ids);
                timer.Stop();
                vocabulary = step.VocabSize;
                file.Write(MemoryMarshal.AsBytes(step.Logits[..((ids.Length - 1) * vocabulary)]));
                done += ids.Length - 1;
                progress?.Report(new EvaluationProgress(window.Index + 1, windows.Count, done, total, clock.Elapsed.TotalSeconds));
            }
        }
        return new Fp32Reference(path, vocabulary, windows.Count > 0 ? timer.Elapsed.TotalMilliseconds / windows.Count : double.NaN);
    }

    /// <summary>Reads the windows back in order.</summary>
    public Reader Open() => new(this);

    public sealed class Reader : IDisposable
    {
        private readonly FileStream _file;
        private readonly int _vocabulary;
        private float[] _buffer = [];

        internal Reader(Fp32Reference reference)
        {
            _file = new FileStream(reference.Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
            _vocabulary = reference.Vocabulary;
        }

        /// <summary>The next window's logits, [positions, vocabulary]; valid until the next call.</summary>
        public ReadOnlySpan<float> Next(int positions)
        {
            var count = positions * _vocabulary;
            if (_buffer.Length < count) _buffer = new float[count];
            _file.ReadExactly(MemoryMarshal.AsBytes(_buffer.AsSpan(0, count)));
            return _buffer.AsSpan(0, count);
        }

        public void Dispose() => _file.Dispose();
    }
}

/// <summary>The per-token figures validation and the sensitivity probe both compare.</summary>
public static class TokenComparison
{
    /// <summary>NLL of the target under each distribution, KL(a ‖ b) (clamped at 0), and whether the argmaxes agree.</summary>
    public static (double NllA, double NllB, double Kl, bool SameTop1) Compare(ReadOnlySpan<float> la, double lseA, ReadOnlySpan<float> lb, int target)
    {
        var lseB = PerplexityEvaluator.LogSumExp(lb);
        double k = 0;
        for (var v = 0; v < la.Length; v++)
        {
            var logPa = la[v] - lseA;
            k += Math.Exp(logPa) * (logPa - (lb[v] - lseB));
        }
        return (lseA - la[target], lseB - lb[target], Math.Max(k, 0), PerplexityEvaluator.ArgMax(la) == PerplexityEvaluator.ArgMax(lb));
    }
}

using System.Diagnostics;
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
/// Loads the original and the quantized model on each requested execution provider and compares them on the
/// evaluation text: perplexity of both, KL(fp32 ‖ quantized) of the next-token distributions, top-1
/// agreement, and time per window.
/// </summary>
public static class QuantizationValidator
{
    public static IReadOnlyList<ProviderValidation> Validate(string fp32Model, string quantizedModel, TokenStream tokens, int context,
        IReadOnlyList<string> providers, IReadOnlyCollection<string> required, Func<string, IProgress<EvaluationProgress>?>? progressFor = null)
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
                results.Add(Compare(provider, fp32Model, quantizedModel, tokens, context, progressFor?.Invoke(provider)));
            }
            catch (ModelCompilerException e) when (!required.Contains(provider))
            {
                results.Add(ProviderValidation.NotRun(provider, ProviderStatus.Failed, e.Message));
            }
        }
        return results;
    }

    public static ProviderValidation Compare(string provider, string fp32Model, string quantizedModel, TokenStream tokens, int context, IProgress<EvaluationProgress>? progress)
    {
        using var o1 = Deterministic.SessionOptions(provider);
        using var o2 = Deterministic.SessionOptions(provider);
        using var reference = new DecoderSession(fp32Model, o1);
        using var candidate = new DecoderSession(quantizedModel, o2);

        var windows = tokens.Windows(context).ToList();
        var total = tokens.PredictedTokens(context);
        double nllRef = 0, nllQ = 0, kl = 0;
        long agree = 0;
        var done = 0;
        var tRef = new Stopwatch();
        var tQ = new Stopwatch();
        var clock = Stopwatch.StartNew();
        foreach (var window in windows)
        {
            var ids = PerplexityEvaluator.ToInt64(window.Tokens.Span);
            tRef.Start();
            using var a = reference.Run(ids);
            tRef.Stop();
            tQ.Start();
            using var b = candidate.Run(ids);
            tQ.Stop();
            for (var t = 0; t < ids.Length - 1; t++)
            {
                var la = a.LogitsAt(t);
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
        if (total == 0)
            throw new ModelCompilerException("MC1033", "the evaluation data gives fewer than 2 tokens; nothing to compare.", tokens.SourcePath);
        var pplRef = Math.Exp(nllRef / total);
        var pplQ = Math.Exp(nllQ / total);
        return new ProviderValidation(provider, ProviderStatus.Ok, null, pplRef, pplQ, (pplQ / pplRef - 1) * 100, kl / total, (double)agree / total, total,
            tRef.Elapsed.TotalMilliseconds / windows.Count, tQ.Elapsed.TotalMilliseconds / windows.Count);
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

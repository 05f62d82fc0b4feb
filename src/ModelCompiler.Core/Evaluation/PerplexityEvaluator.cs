using System.Diagnostics;
using ModelCompiler.Runtime;

namespace ModelCompiler.Evaluation;

/// <summary>Result of a perplexity run (DESIGN.md §5 convention).</summary>
public sealed record PerplexityResult(double Perplexity, double TotalNll, int PredictedTokens, int Windows, double Seconds)
{
    public double TokensPerSecond => Seconds > 0 ? PredictedTokens / Seconds : 0;
}

/// <summary>Progress of a windowed run: windows and predicted tokens done so far.</summary>
public readonly record struct EvaluationProgress(int Window, int Windows, int Tokens, int TotalTokens, double Seconds);

/// <summary>
/// Perplexity of a decoder on a token stream: non-overlapping windows of <c>context</c> tokens, NLL summed
/// over positions 1..len-1 of each window (the first token is context only), a final window counts when it
/// has at least 2 tokens, perplexity = exp(total NLL / predicted tokens).
/// </summary>
public static class PerplexityEvaluator
{
    public static PerplexityResult Evaluate(DecoderSession session, TokenStream stream, int context, IProgress<EvaluationProgress>? progress = null)
    {
        var windows = stream.Windows(context).ToList();
        var total = stream.PredictedTokens(context);
        if (total == 0)
            throw new ModelCompilerException("MC1033", "the text gives fewer than 2 tokens; nothing to predict.", stream.SourcePath);
        var clock = Stopwatch.StartNew();
        double nll = 0;
        var done = 0;
        foreach (var window in windows)
        {
            var ids = ToInt64(window.Tokens.Span);
            using var step = session.Run(ids);
            for (var t = 0; t < ids.Length - 1; t++)
            {
                var tokenNll = NegativeLogLikelihood(step.LogitsAt(t), (int)ids[t + 1]);
                if (!double.IsFinite(tokenNll)) throw NonFiniteLogits(session, window.Index, t);
                nll += tokenNll;
            }
            done += ids.Length - 1;
            progress?.Report(new EvaluationProgress(window.Index + 1, windows.Count, done, total, clock.Elapsed.TotalSeconds));
        }
        return new PerplexityResult(Math.Exp(nll / total), nll, total, windows.Count, clock.Elapsed.TotalSeconds);
    }

    /// <summary>A model whose logits hold NaN or ±Inf has no perplexity: MC1046, never "perplexity Infinity".</summary>
    public static ModelCompilerException NonFiniteLogits(DecoderSession session, int window, int position) => new(
        "MC1046",
        $"the model gives non-finite logits (NaN or infinity) at window {window + 1}, position {position}; its weights hold NaN/Inf or a value overflows.",
        Path.GetFullPath(session.ModelPath));

    public static long[] ToInt64(ReadOnlySpan<int> tokens)
    {
        var ids = new long[tokens.Length];
        for (var i = 0; i < ids.Length; i++) ids[i] = tokens[i];
        return ids;
    }

    /// <summary>−log softmax(logits)[target], in double precision.</summary>
    public static double NegativeLogLikelihood(ReadOnlySpan<float> logits, int target) => LogSumExp(logits) - logits[target];

    public static double LogSumExp(ReadOnlySpan<float> logits)
    {
        var max = float.NegativeInfinity;
        foreach (var v in logits) if (v > max) max = v;
        double sum = 0;
        foreach (var v in logits) sum += Math.Exp(v - max);
        return max + Math.Log(sum);
    }

    public static int ArgMax(ReadOnlySpan<float> values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }
}

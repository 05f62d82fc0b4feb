using ModelCompiler.Runtime;
using Xunit.Abstractions;

namespace ModelCompiler.Tests.Runtime;

/// <summary>
/// THE key check of the importer: the ONNX graph on ONNX Runtime computes the same logits as an independent
/// transcription of llama2.c's run.c (see <see cref="Import.ReferenceLlama"/>), over real text.
/// </summary>
[Collection(Stories260KCollection.Name)]
public sealed class ForwardPassTests(Stories260KFixture f, ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    /// <summary>256 tokens of real TinyStories text (several documents, each after BOS).</summary>
    private int[] RealTokens(int count)
    {
        var stream = f.Stream(TestPaths.TinyStoriesValid, count);
        Assert.Equal(count, stream.Count);
        return stream.Tokens.ToArray();
    }

    private static double MaxAbsDiff(ReadOnlySpan<float> actual, double[] expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        double max = 0;
        for (var i = 0; i < expected.Length; i++) max = Math.Max(max, Math.Abs(actual[i] - expected[i]));
        return max;
    }

    [Fact]
    public void FullSequenceInOneRun_MatchesTheReference()
    {
        var tokens = RealTokens(256);
        var expected = f.Reference.Forward(tokens);

        using var step = f.Session.Run(tokens.Select(t => (long)t).ToArray());
        Assert.Equal(256, step.SequenceLength);
        Assert.Equal(512, step.VocabSize);
        double max = 0;
        for (var p = 0; p < tokens.Length; p++) max = Math.Max(max, MaxAbsDiff(step.LogitsAt(p), expected[p]));
        output.WriteLine($"full sequence ({tokens.Length} tokens): max |logit diff| = {max:E3}");
        Assert.True(max < Tolerance, $"max |logit diff| {max:E3} ≥ {Tolerance:E0}");

        // The comparison is not vacuous: logits vary by several units across positions and the vocabulary.
        var spread = expected.SelectMany(r => r).Max() - expected.SelectMany(r => r).Min();
        Assert.True(spread > 5, $"logit spread {spread}");
        // ...and the model predicts real text: greedy choices agree with the reference at every position.
        for (var p = 0; p < tokens.Length; p++)
            Assert.Equal(Import.ReferenceLlama.ArgMax(expected[p]), Evaluation.PerplexityEvaluator.ArgMax(step.LogitsAt(p)));
    }

    [Fact]
    public void TokenByTokenWithTheKvCache_MatchesTheReference()
    {
        var tokens = RealTokens(160);
        var expected = f.Reference.Forward(tokens);

        using var cache = new KvCache();
        double max = 0;
        for (var p = 0; p < tokens.Length; p++)
        {
            using var step = f.Session.Run([tokens[p]], cache);
            Assert.Equal(p + 1, cache.Length);
            Assert.Equal(1, step.SequenceLength);
            max = Math.Max(max, MaxAbsDiff(step.LogitsAt(0), expected[p]));
        }
        output.WriteLine($"token by token with KV cache ({tokens.Length} tokens): max |logit diff| = {max:E3}");
        Assert.True(max < Tolerance, $"max |logit diff| {max:E3} ≥ {Tolerance:E0}");
    }

    [Fact]
    public void PromptChunkThenSingleTokens_MatchesTheReference()
    {
        var tokens = RealTokens(100);
        var expected = f.Reference.Forward(tokens);

        using var cache = new KvCache();
        double max = 0;
        using (var prompt = f.Session.Run(tokens[..37].Select(t => (long)t).ToArray(), cache))
        {
            Assert.Equal(37, cache.Length);
            for (var p = 0; p < 37; p++) max = Math.Max(max, MaxAbsDiff(prompt.LogitsAt(p), expected[p]));
        }
        for (var start = 37; start < tokens.Length; start += 21)  // then chunks of up to 21 tokens
        {
            var chunk = tokens[start..Math.Min(start + 21, tokens.Length)];
            using var step = f.Session.Run(chunk.Select(t => (long)t).ToArray(), cache);
            Assert.Equal(start + chunk.Length, cache.Length);
            for (var p = 0; p < chunk.Length; p++) max = Math.Max(max, MaxAbsDiff(step.LogitsAt(p), expected[start + p]));
        }
        output.WriteLine($"prompt chunk + chunks with KV cache: max |logit diff| = {max:E3}");
        Assert.True(max < Tolerance, $"max |logit diff| {max:E3} ≥ {Tolerance:E0}");
    }

    [Fact]
    public void ReferenceRotaryTablesAgreeWithTheCheckpoints()
    {
        // The reference computes rotary angles from the formula; the graph uses the checkpoint's stored tables.
        // They must agree (float32 rounding of the angle only), or the two sides would measure different models.
        var ckpt = ModelCompiler.Import.Llama2cCheckpoint.Load(TestPaths.Checkpoint);
        var half = ckpt.Config.HeadDim / 2;
        double max = 0;
        for (var p = 0; p < ckpt.Config.MaxSeqLen; p++)
            for (var i = 0; i < half; i++)
            {
                var angle = p / Math.Pow(10000.0, 2.0 * i / ckpt.Config.HeadDim);
                max = Math.Max(max, Math.Abs(ckpt.FreqCisReal[p * half + i] - Math.Cos(angle)));
                max = Math.Max(max, Math.Abs(ckpt.FreqCisImag[p * half + i] - Math.Sin(angle)));
            }
        output.WriteLine($"checkpoint freq_cis vs formula: max diff {max:E3}");
        Assert.True(max < 1e-4, $"freq_cis tables differ from the formula by {max}");
    }
}

using ModelCompiler.Evaluation;
using ModelCompiler.Tests.Import;
using Xunit.Abstractions;

namespace ModelCompiler.Tests.Runtime;

[Collection(Stories260KCollection.Name)]
public sealed class PerplexityTests(Stories260KFixture f, ITestOutputHelper output)
{
    /// <summary>models/README.md: computed by an independent numpy implementation.</summary>
    private const double PublishedPerplexity = 3.8459;
    private const int PublishedTokens = 1801;

    [Fact]
    public void TinyStoriesSample_OnOnnxRuntime_MatchesThePublishedPerplexity()
    {
        var stream = f.Stream(TestPaths.TinyStoriesSample);
        var result = PerplexityEvaluator.Evaluate(f.Session, stream, 256);
        output.WriteLine($"ONNX Runtime: perplexity {result.Perplexity:F6} over {result.PredictedTokens} tokens, {result.Windows} windows");

        Assert.Equal(PublishedTokens, result.PredictedTokens);
        Assert.Equal((int)Math.Ceiling(stream.Count / 256.0), result.Windows);
        Assert.InRange(result.Perplexity, PublishedPerplexity * 0.999, PublishedPerplexity * 1.001);
        Assert.Equal(Math.Exp(result.TotalNll / result.PredictedTokens), result.Perplexity, 12);
    }

    [Fact]
    public void NonFiniteLogits_AreError1046_NotAnInfinitePerplexity()
    {
        // One NaN in the final norm's weight: every logit after it is NaN.
        var model = Onnx.OnnxModelIO.Load(f.ModelPath);
        var norm = model.Graph.Initializer.Single(t => t.Name == "model.norm.weight");
        var values = Onnx.TensorData.ReadFloats(norm);
        values[0] = float.NaN;
        var bytes = new byte[values.Length * 4];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        norm.RawData = Google.Protobuf.ByteString.CopyFrom(bytes);
        var dir = TestPaths.NewTempDir("mc-nan");
        try
        {
            var path = Path.Combine(dir, "nan.onnx");
            Onnx.OnnxModelIO.Save(model, path);
            using var session = new ModelCompiler.Runtime.DecoderSession(path);
            var e = Assert.Throws<ModelCompilerException>(() => PerplexityEvaluator.Evaluate(session, f.Stream(TestPaths.TinyStoriesSample, 64), 32));
            Assert.Equal("MC1046", e.Code);
            Assert.Contains("window 1, position 0", e.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void AGraphOnnxRuntimeRefuses_IsBadInput1047()
    {
        var model = Onnx.OnnxModelIO.Load(f.ModelPath);
        model.Graph.Node[10].Input[0] = "no_such_tensor"; // read by a node, produced by none
        var dir = TestPaths.NewTempDir("mc-refused");
        try
        {
            var path = Path.Combine(dir, "refused.onnx");
            Onnx.OnnxModelIO.Save(model, path);
            var e = Assert.Throws<ModelCompilerException>(() => new ModelCompiler.Runtime.DecoderSession(path));
            Assert.Equal("MC1047", e.Code);
            Assert.Contains("no_such_tensor", e.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void TinyStoriesSample_WithTheReferenceForwardPass_AgreesWithOnnxRuntime()
    {
        // The windowing below is written out here (non-overlapping windows of 256, first token of each is context
        // only, a last window counts from 2 tokens), so that it checks the evaluator as well as the graph.
        const int context = 256;
        var tokens = f.Stream(TestPaths.TinyStoriesSample).Tokens.ToArray();
        double nll = 0;
        var predicted = 0;
        double firstWindowNll = 0;
        for (var start = 0; start < tokens.Length; start += context)
        {
            var window = tokens[start..Math.Min(start + context, tokens.Length)];
            if (window.Length < 2) continue;
            var logits = f.Reference.Forward(window);
            for (var t = 0; t + 1 < window.Length; t++) nll += ReferenceLlama.Nll(logits[t], window[t + 1]);
            predicted += window.Length - 1;
            if (start == 0) firstWindowNll = nll;
        }
        var referencePerplexity = Math.Exp(nll / predicted);
        output.WriteLine($"reference forward pass: perplexity {referencePerplexity:F6} over {predicted} tokens");

        Assert.Equal(PublishedTokens, predicted);
        Assert.InRange(referencePerplexity, PublishedPerplexity * 0.999, PublishedPerplexity * 1.001);

        var onnx = PerplexityEvaluator.Evaluate(f.Session, f.Stream(TestPaths.TinyStoriesSample), context);
        Assert.Equal(predicted, onnx.PredictedTokens);
        Assert.True(Math.Abs(onnx.Perplexity - referencePerplexity) / referencePerplexity < 1e-5,
            $"ONNX {onnx.Perplexity:F8} vs reference {referencePerplexity:F8}");

        // First window alone, with the evaluator limited to the first 256 tokens.
        var first = PerplexityEvaluator.Evaluate(f.Session, f.Stream(TestPaths.TinyStoriesSample, context), context);
        Assert.Equal(context - 1, first.PredictedTokens);
        Assert.Equal(firstWindowNll, first.TotalNll, 3);
    }

    [Fact]
    public void ShorterContext_GivesMoreWindowsAndHigherPerplexity()
    {
        var stream = f.Stream(TestPaths.TinyStoriesSample);
        var full = PerplexityEvaluator.Evaluate(f.Session, stream, 256);
        var shortContext = PerplexityEvaluator.Evaluate(f.Session, stream, 16);
        Assert.Equal(stream.Count / 16 * 15 + Math.Max(stream.Count % 16 - 1, 0), shortContext.PredictedTokens);
        Assert.True(shortContext.Perplexity > full.Perplexity, $"{shortContext.Perplexity} vs {full.Perplexity}");
    }

    [Fact]
    public void OutOfDomainText_HasMuchHigherPerplexity()
    {
        // Moby-Dick is far outside TinyStories (README: around 30-40 at fp32).
        var result = PerplexityEvaluator.Evaluate(f.Session, f.Stream(TestPaths.MobyDick, 2048), 256);
        output.WriteLine($"Moby-Dick (first 2048 tokens): perplexity {result.Perplexity:F3}");
        Assert.InRange(result.Perplexity, 15, 80);
    }

    [Fact]
    public void Progress_IsReportedPerWindow()
    {
        var stream = f.Stream(TestPaths.TinyStoriesSample);
        var reports = new List<EvaluationProgress>();
        var result = PerplexityEvaluator.Evaluate(f.Session, stream, 256, new SyncProgress(reports.Add));
        Assert.Equal(result.Windows, reports.Count);
        Assert.Equal(Enumerable.Range(1, result.Windows), reports.Select(r => r.Window));
        Assert.Equal(result.PredictedTokens, reports[^1].Tokens);
        Assert.All(reports, r => Assert.Equal(result.PredictedTokens, r.TotalTokens));
    }

    [Fact]
    public void NllHelpers()
    {
        float[] logits = [1f, 2f, 3f];
        var lse = Math.Log(Math.Exp(1) + Math.Exp(2) + Math.Exp(3));
        Assert.Equal(lse, PerplexityEvaluator.LogSumExp(logits), 6);
        Assert.Equal(lse - 2, PerplexityEvaluator.NegativeLogLikelihood(logits, 1), 6);
        Assert.Equal(2, PerplexityEvaluator.ArgMax(logits));
        Assert.Equal(0, PerplexityEvaluator.ArgMax([5f, 5f, 1f]));  // first of equal maxima
        // Large logits do not overflow.
        Assert.Equal(Math.Log(2), PerplexityEvaluator.NegativeLogLikelihood([1000f, 1000f], 0), 6);
    }

    private sealed class SyncProgress(Action<EvaluationProgress> report) : IProgress<EvaluationProgress>
    {
        public void Report(EvaluationProgress value) => report(value);
    }
}

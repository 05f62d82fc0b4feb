using ModelCompiler.Calibration;
using ModelCompiler.Evaluation;
using ModelCompiler.Onnx;
using ModelCompiler.Runtime;
using ModelCompiler.Tests;
using ModelCompiler.Validation;

namespace ModelCompiler.Core.Tests.Compilation;

/// <summary>
/// Validation runs the fp32 session alone, stores its logits on disk, then runs the candidate. Its figures must be
/// those of a plain side-by-side comparison, computed here independently (double-precision log-softmax per position).
/// </summary>
public sealed class QuantizationValidatorTests(CompileFixture f) : IClassFixture<CompileFixture>
{
    [Fact]
    public void SequentialValidation_MatchesAnIndependentSideBySideComparison_AndReusesTheFp32Reference()
    {
        var dir = TestPaths.NewTempDir("mc-validate");
        try
        {
            // A candidate that differs from fp32: the model with every MatMul weight scaled by 1.02.
            var candidate = OnnxModelIO.Load(f.ModelPath);
            foreach (var layer in ModelCompiler.Quantization.LayerDiscovery.Find(new OnnxGraph(candidate.Graph)).Take(6))
            {
                var t = new OnnxGraph(candidate.Graph).Initializer(layer.WeightInitializer)!;
                var w = TensorData.ReadFloats(t);
                for (var i = 0; i < w.Length; i++) w[i] *= 1.02f;
                t.RawData = TensorData.Floats(t.Name, w).RawData;
            }
            var candidatePath = Path.Combine(dir, "candidate.onnx");
            OnnxModelIO.Save(candidate, candidatePath);
            var stream = TokenStream.Load(Path.Combine(f.Dir, "data", "eval.txt"), ModelCompiler.Tokenization.TokenizerLoader.Load(TestPaths.Tokenizer, null), 700);
            const int context = 256;

            var references = new Dictionary<string, Fp32Reference>();
            var result = QuantizationValidator.Validate(f.ModelPath, candidatePath, stream, context, [ExecutionProviders.Cpu], [], dir, references).Single();
            var again = QuantizationValidator.Validate(f.ModelPath, candidatePath, stream, context, [ExecutionProviders.Cpu], [], dir, references).Single();

            double nllA = 0, nllB = 0, kl = 0;
            long agree = 0, n = 0;
            using (var oa = Deterministic.SessionOptions())
            using (var ob = Deterministic.SessionOptions())
            using (var a = new DecoderSession(f.ModelPath, oa))
            using (var b = new DecoderSession(candidatePath, ob))
            {
                foreach (var window in stream.Windows(context))
                {
                    var ids = window.Tokens.ToArray().Select(v => (long)v).ToArray();
                    using var sa = a.Run(ids);
                    using var sb = b.Run(ids);
                    for (var p = 0; p < ids.Length - 1; p++)
                    {
                        var pa = LogSoftmax(sa.LogitsAt(p));
                        var pb = LogSoftmax(sb.LogitsAt(p));
                        var target = (int)ids[p + 1];
                        nllA -= pa[target];
                        nllB -= pb[target];
                        kl += Math.Max(0, pa.Select((lp, v) => Math.Exp(lp) * (lp - pb[v])).Sum());
                        if (Array.IndexOf(pa, pa.Max()) == Array.IndexOf(pb, pb.Max())) agree++;
                        n++;
                    }
                }
            }

            Assert.Equal(ProviderStatus.Ok, result.Status);
            Assert.Equal(n, result.Tokens);
            Assert.Equal(Math.Exp(nllA / n), result.Fp32Perplexity, 1e-9);
            Assert.Equal(Math.Exp(nllB / n), result.QuantizedPerplexity, 1e-9);
            Assert.Equal(kl / n, result.MeanKlDivergence, 1e-9);
            Assert.True(result.MeanKlDivergence > 1e-6, "the candidate differs from fp32");
            Assert.Equal((double)agree / n, result.Top1Agreement, 12);
            // The second validation reads the stored fp32 logits: the same figures, bit for bit.
            Assert.Single(references);
            Assert.Equal(result.MeanKlDivergence, again.MeanKlDivergence);
            Assert.Equal(result.Fp32Perplexity, again.Fp32Perplexity);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static double[] LogSoftmax(ReadOnlySpan<float> logits)
    {
        var max = double.NegativeInfinity;
        foreach (var v in logits) max = Math.Max(max, v);
        double sum = 0;
        foreach (var v in logits) sum += Math.Exp(v - max);
        var lse = max + Math.Log(sum);
        var r = new double[logits.Length];
        for (var i = 0; i < r.Length; i++) r[i] = logits[i] - lse;
        return r;
    }
}

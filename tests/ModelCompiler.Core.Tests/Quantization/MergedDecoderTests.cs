using ModelCompiler.Calibration;
using ModelCompiler.Compilation;
using ModelCompiler.Core.Tests.Compilation;
using ModelCompiler.Evaluation;
using ModelCompiler.Onnx;
using ModelCompiler.Onnx.Proto;
using ModelCompiler.Quantization;
using ModelCompiler.Runtime;
using ModelCompiler.Tests;
using ModelCompiler.Tokenization;

namespace ModelCompiler.Core.Tests.Quantization;

/// <summary>
/// A merged decoder (Optimum's decoder_model_merged.onnx layout, built from stories260K by <see cref="MergedDecoder"/>)
/// against the un-merged graph it came from: the same layers, the same logits with and without past, the same
/// calibration statistics, and an all-INT8 compile whose Q/DQ nodes land inside both branches.
/// </summary>
public sealed class MergedDecoderTests : IClassFixture<CompileFixture>
{
    private readonly CompileFixture _f;
    private readonly string _merged;

    public MergedDecoderTests(CompileFixture f)
    {
        _f = f;
        // Beside the imported model, so that its tokenizer (named in the metadata) is found the same way.
        _merged = Path.Combine(f.Dir, "stories260K-merged.onnx");
        lock (typeof(MergedDecoderTests))
        {
            if (!File.Exists(_merged))
            {
                var m = OnnxModelIO.Load(f.ModelPath);
                OnnxModelIO.Save(MergedDecoder.Merge(m, m), _merged);
            }
        }
    }

    /// <summary>The merged decoder with its with-past branch's logits multiplied by <paramref name="factor"/>: which branch ran is visible.</summary>
    private string WithPastLogitsTimes(float factor, string file)
    {
        var m = OnnxModelIO.Load(_f.ModelPath);
        var variant = MergedDecoder.Merge(m, m);
        var then = MergedDecoder.BranchOf(variant, "then_branch");
        then.Node.Single(n => n.Output.Contains("logits")).Output[0] = "logits_raw";
        then.Node.Add(new NodeProto { OpType = "Constant", Name = "factor", Output = { "factor" }, Attribute = { new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = TensorData.Scalar("factor", factor) } } });
        then.Node.Add(new NodeProto { OpType = "Mul", Name = "scale_logits", Input = { "logits_raw", "factor" }, Output = { "logits" } });
        var path = Path.Combine(_f.Dir, file);
        OnnxModelIO.Save(variant, path);
        return path;
    }

    private ITokenizer Tokenizer => TokenizerLoader.Load(TestPaths.Tokenizer, null);

    [Fact]
    public void Discovery_finds_the_unmerged_layers_once_with_their_copy_in_the_with_past_branch()
    {
        var plain = LayerDiscovery.Find(new OnnxGraph(OnnxModelIO.Load(_f.ModelPath).Graph));
        var model = OnnxModelIO.Load(_merged);
        var merged = LayerDiscovery.Find(new OnnxGraph(model.Graph));
        var noPast = MergedDecoder.BranchOf(model, "else_branch");
        var withPast = MergedDecoder.BranchOf(model, "then_branch");

        Assert.Equal(36, plain.Count); // 5 blocks x 7 projections + lm_head
        Assert.Equal(plain.Select(l => (l.Name, l.WeightInitializer, l.InFeatures, l.OutFeatures, l.WeightTransposed)),
                     merged.Select(l => (l.Name, l.WeightInitializer, l.InFeatures, l.OutFeatures, l.WeightTransposed)));
        Assert.All(merged, l =>
        {
            Assert.Same(noPast, l.Subgraph);
            Assert.Contains(l.Node, noPast.Node);
            Assert.Null(l.WeightGraph); // hoisted: read from the outer scope
            var copy = Assert.Single(l.Copies);
            Assert.Same(withPast, copy.Subgraph);
            Assert.Contains(copy.Node, withPast.Node);
            Assert.Equal((l.Name, l.Node.Name, l.WeightInitializer), (copy.Name, copy.Node.Name, copy.WeightInitializer));
        });
        // Bind finds the same layers (and copies) again in a clone.
        var clone = model.Clone();
        var bound = LayerDiscovery.Bind(new OnnxGraph(clone.Graph), merged);
        Assert.All(merged, l => Assert.Contains(bound[l.Name].Copies.Single().Node, MergedDecoder.BranchOf(clone, "then_branch").Node));
    }

    [Fact]
    public void The_merged_decoder_runs_its_no_past_branch_from_an_empty_cache_and_its_with_past_branch_after()
    {
        // A variant whose with-past branch doubles the logits shows which branch ran.
        var variantPath = WithPastLogitsTimes(2f, "merged-doubled.onnx");

        using var plain = new DecoderSession(_f.ModelPath, Deterministic.SessionOptions());
        using var merged = new DecoderSession(_merged, Deterministic.SessionOptions());
        using var doubled = new DecoderSession(variantPath, Deterministic.SessionOptions());
        Assert.Equal("use_cache_branch", merged.Contract.UseCacheBranch?.Name);
        Assert.Null(plain.Contract.UseCacheBranch);

        var ids = PerplexityEvaluator.ToInt64(TokenStream.Load(TestPaths.TinyStoriesSample, Tokenizer, 24).Tokens.ToArray());
        using var cacheP = new KvCache();
        using var cacheM = new KvCache();
        using var cacheD = new KvCache();
        for (var step = 0; step < 3; step++)
        {
            var chunk = step == 0 ? ids.AsSpan(0, 16) : ids.AsSpan(15 + step, 1);
            var a = plain.Run(chunk, cacheP).Logits.ToArray();
            var b = merged.Run(chunk, cacheM).Logits.ToArray();
            var c = doubled.Run(chunk, cacheD).Logits.ToArray();
            Assert.Equal(a, b); // identical graphs in both branches: bit for bit
            var factor = step == 0 ? 1f : 2f;
            Assert.Equal(a.Select(x => x * factor), c);
        }
    }

    [Fact]
    public void The_wrapper_runtime_feeds_use_cache_branch_false_first_and_true_with_past()
    {
        // The contract the generated wrapper builds from the manifest (ManifestWriter's decoder object), here from the
        // graph, on a variant whose with-past branch negates the logits: greedy then picks the least likely token.
        var negated = WithPastLogitsTimes(-1f, "merged-negated.onnx");
        using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(negated);
        var graph = Decoding.DecoderContract.Of(session, negated);
        var inputs = session.InputMetadata.Select(kv => new DecoderInput(kv.Key, kv.Key switch
        {
            "input_ids" => DecoderInputKind.InputIds,
            "attention_mask" => DecoderInputKind.AttentionMask,
            "position_ids" => DecoderInputKind.PositionIds,
            "use_cache_branch" => DecoderInputKind.UseCacheBranch,
            _ => DecoderInputKind.State,
        }, kv.Value.ElementDataType, kv.Value.Dimensions.Length)).ToList();
        Assert.Contains(inputs, i => i.Kind == DecoderInputKind.UseCacheBranch);
        var states = graph.States.Select(st => new DecoderState(st.Input, st.Output, st.Type, st.ShapeFor(1), st.SequenceAxis)).ToList();
        var generator = new TokenGenerator(session, new DecoderContract(inputs, states, "logits", graph.Logits.Type, []));

        // Expected from the un-merged decoder: argmax after the prompt (no past), argmin on every later step (with past).
        using var plain = new DecoderSession(_f.ModelPath, Deterministic.SessionOptions());
        using var cache = new KvCache();
        var expected = new List<long>();
        long[] input = [1];
        for (var n = 0; n < 12; n++)
        {
            using var step = plain.Run(input, cache);
            var logits = step.LogitsAt(step.SequenceLength - 1);
            var next = n == 0 ? PerplexityEvaluator.ArgMax(logits) : PerplexityEvaluator.ArgMax(logits.ToArray().Select(x => -x).ToArray());
            expected.Add(next);
            input = [next];
        }
        Assert.Equal(expected, generator.GenerateGreedy([1L], 12));
    }

    [Fact]
    public void Calibration_inside_the_branch_gives_the_statistics_of_the_unmerged_graph()
    {
        var tokens = TokenStream.Load(TestPaths.TinyStoriesSample, Tokenizer, 300);
        var plainModel = OnnxModelIO.Load(_f.ModelPath);
        var mergedModel = OnnxModelIO.Load(_merged);
        var plainLayers = LayerDiscovery.Find(new OnnxGraph(plainModel.Graph));
        var mergedLayers = LayerDiscovery.Find(new OnnxGraph(mergedModel.Graph));
        var dirA = TestPaths.NewTempDir("mc-merged-cal");
        var dirB = TestPaths.NewTempDir("mc-merged-cal");
        try
        {
            var a = Calibrator.Run(plainModel, plainLayers, tokens, 128, dirA);
            var b = Calibrator.Run(mergedModel, mergedLayers, tokens, 128, dirB);
            Assert.Equal(a.ByActivation.Keys.Order(StringComparer.Ordinal), b.ByActivation.Keys.Order(StringComparer.Ordinal));
            Assert.Equal(a.Tokens, b.Tokens);
            foreach (var (name, sa) in a.ByActivation)
            {
                var sb = b.ByActivation[name];
                Assert.True(sa.Count > 0);
                Assert.Equal((sa.Count, sa.Min, sa.Max), (sb.Count, sb.Min, sb.Max));
                Assert.Equal(sa.ChannelAbsMax.ToArray(), sb.ChannelAbsMax.ToArray());
                Assert.Equal(sa.Histogram(), sb.Histogram());
            }
        }
        finally
        {
            Directory.Delete(dirA, true);
            Directory.Delete(dirB, true);
        }
    }

    [Fact]
    public void All_int8_on_the_merged_decoder_quantizes_both_branches_like_the_unmerged_graph()
    {
        var yaml = CompileFixture.Yaml("  kind: all-int8", calibTokens: 1024, evalTokens: 1024);
        var plain = _f.Compile("merged-ref-int8", yaml);
        var reporter = new CompileFixture.SilentReporter();
        var result = QuantizationCompiler.Compile(new CompileOptions(_merged, _f.Spec("merged-int8", yaml), Path.Combine(_f.Dir, "out", "merged-int8.onnx")), reporter);

        Assert.True(result.Passed);
        Assert.Equal(36, result.Int8Layers);
        // The fp32 merged decoder evaluates exactly as the unmerged one; INT8 with the same calibration, the same.
        Assert.Equal(plain.Providers[0].Fp32Perplexity, result.Providers[0].Fp32Perplexity, 1e-9);
        Assert.Equal(plain.Providers[0].QuantizedPerplexity, result.Providers[0].QuantizedPerplexity, 1e-6);

        var q = OnnxModelIO.Load(result.Options.OutputPath);
        Assert.Equal(["If"], q.Graph.Node.Select(n => n.OpType));
        foreach (var branch in new[] { "then_branch", "else_branch" })
        {
            var g = MergedDecoder.BranchOf(q, branch);
            Assert.Equal(36, g.Node.Count(n => n.OpType == "DequantizeLinear" && n.Input[0].EndsWith(".weight_quantized", StringComparison.Ordinal)));
            Assert.Equal(72, g.Node.Count(n => n.OpType == "DequantizeLinear"));
            Assert.Empty(g.Initializer); // scales and INT8 weights live in the main graph, shared by both branches
        }
        Assert.Equal(36, q.Graph.Initializer.Count(t => t.DataType == (int)TensorProto.Types.DataType.Int8 && t.Dims.Count == 2));
        Assert.DoesNotContain(q.Graph.Initializer, t => t.DataType == (int)TensorProto.Types.DataType.Float && t.Dims.Count == 2 && t.Name.EndsWith(".weight", StringComparison.Ordinal) && t.Name != "model.embed_tokens.weight");
        // ORT's CPU optimizer fuses the QDQ MatMuls inside both branches.
        Assert.Equal(72, result.Int8FusedOnCpu);
        Assert.Equal(72, result.Int8Nodes);
        Assert.DoesNotContain(reporter.Warnings, w => w.Contains("MC3020", StringComparison.Ordinal));

        // Generation through both branches gives the tokens of the unmerged INT8 model.
        using var a = new DecoderSession(plain.Options.OutputPath, Deterministic.SessionOptions());
        using var b = new DecoderSession(result.Options.OutputPath, Deterministic.SessionOptions());
        var ta = TextGenerator.Generate(a, [1], 24).ToList();
        var tb = TextGenerator.Generate(b, [1], 24).ToList();
        Assert.Equal(ta, tb);
    }

    [Fact]
    public void Fp16_fallback_layers_get_their_casts_in_both_branches_and_one_shared_fp16_weight()
    {
        var yaml = CompileFixture.Yaml("  kind: all-int8\n  exclude: [\"*.down_proj\", \"lm_head\"]", "fp16", calibTokens: 1024, evalTokens: 1024);
        var plain = _f.Compile("merged-ref-mixed", yaml);
        var result = QuantizationCompiler.Compile(new CompileOptions(_merged, _f.Spec("merged-mixed", yaml), Path.Combine(_f.Dir, "out", "merged-mixed.onnx")), new CompileFixture.SilentReporter());

        Assert.True(result.Passed);
        Assert.Equal((30, 6), (result.Int8Layers, result.Decisions.Count(d => d.Precision == ModelCompiler.Policies.LayerPrecision.Fp16)));
        Assert.Equal(plain.Providers[0].QuantizedPerplexity, result.Providers[0].QuantizedPerplexity, 1e-6);
        var q = OnnxModelIO.Load(result.Options.OutputPath);
        Assert.Equal(6, q.Graph.Initializer.Count(t => t.DataType == (int)TensorProto.Types.DataType.Float16 && t.Name.EndsWith(".weight_fp16", StringComparison.Ordinal)));
        foreach (var branch in new[] { "then_branch", "else_branch" })
        {
            var g = MergedDecoder.BranchOf(q, branch);
            Assert.Equal(6, g.Node.Count(n => n.OpType == "MatMul" && n.Input[1].EndsWith(".weight_fp16", StringComparison.Ordinal)));
        }
    }
}

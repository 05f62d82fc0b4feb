using Microsoft.ML.OnnxRuntime;
using ModelCompiler.Compilation;
using ModelCompiler.Onnx;
using ModelCompiler.Policies;
using ModelCompiler.Validation;
using DataType = ModelCompiler.Onnx.Proto.TensorProto.Types.DataType;

namespace ModelCompiler.Core.Tests.Compilation;

public sealed class QuantizationCompilerTests(CompileFixture f) : IClassFixture<CompileFixture>
{
    private const string AllInt8 = "  kind: all-int8";

    [Fact]
    public void AllInt8_QuantizesEveryProjection_AndStaysWithinTwoPercent()
    {
        var r = f.Compile("all-int8", CompileFixture.Yaml(AllInt8));

        Assert.Equal(36, r.Decisions.Count); // 5 layers x 7 projections + lm_head
        Assert.All(r.Decisions, d => Assert.Equal(LayerPrecision.Int8, d.Precision));
        Assert.Contains(r.Decisions, d => d.Layer.Name == "lm_head");
        Assert.Equal(35, r.Decisions.Count(d => d.Layer.Name.StartsWith("model.layers.", StringComparison.Ordinal)));

        var cpu = Assert.Single(r.Providers, p => p.Status == ProviderStatus.Ok);
        Assert.InRange(cpu.PerplexityIncreasePct, 0.0, 2.0);
        Assert.InRange(cpu.Top1Agreement, 0.85, 1.0);
        Assert.True(cpu.MeanKlDivergence > 0);
        Assert.Equal(36, r.Int8FusedOnCpu);

        // Every MatMul weight in the output is int8 behind a DequantizeLinear with a per-channel axis.
        var model = OnnxModelIO.Load(Path.Combine(f.Dir, "out", "all-int8.onnx"));
        var graph = new OnnxGraph(model.Graph);
        var matmuls = model.Graph.Node.Where(n => n.OpType == "MatMul" && graph.Producer(n.Input[1])?.OpType == "DequantizeLinear").ToList();
        Assert.Equal(36, matmuls.Count);
        foreach (var mm in matmuls)
        {
            var dq = graph.Producer(mm.Input[1])!;
            Assert.Equal((int)DataType.Int8, graph.Initializer(dq.Input[0])!.DataType);
            Assert.Equal(1, Attr.GetInt(dq, "axis", -1));
            var actDq = graph.Producer(mm.Input[0])!;
            Assert.Equal("DequantizeLinear", actDq.OpType);
            Assert.Equal("QuantizeLinear", graph.Producer(actDq.Input[0])!.OpType);
            Assert.Equal((int)DataType.Uint8, graph.Initializer(actDq.Input[2])!.DataType);
        }
    }

    [Fact]
    public void AllInt8_IsFusedByOrtCpuIntoIntegerKernels()
    {
        f.Compile("fusion", CompileFixture.Yaml(AllInt8, evalTokens: 512, calibTokens: 512));
        var optimized = Path.Combine(f.Dir, "out", "fusion.ort-optimized.onnx");
        using (var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_EXTENDED, OptimizedModelFilePath = optimized })
        using (new InferenceSession(Path.Combine(f.Dir, "out", "fusion.onnx"), options)) { }

        var graph = OnnxModelIO.Load(optimized).Graph;
        var ops = graph.Node.Select(n => n.OpType).ToList();
        var fused = ops.Count(o => o is "QLinearMatMul" or "MatMulIntegerToFloat");
        Assert.True(fused == 36, $"expected 36 fused integer MatMuls, got {fused}: {string.Join(",", ops.GroupBy(o => o).Select(g => $"{g.Key}x{g.Count()}"))}");
        // Nothing is left as a float MatMul on a dequantized weight: the two float MatMuls are attention's.
        var index = new OnnxGraph(graph);
        Assert.DoesNotContain(graph.Node, n => n.OpType == "MatMul" && index.Producer(n.Input[1])?.OpType == "DequantizeLinear");
    }
}

public sealed class QuantizationCompilerBehaviourTests(CompileFixture f) : IClassFixture<CompileFixture>
{
    [Fact]
    public void NoneWithFp16Fallback_StoresFp16Weights_AndBarelyMovesPerplexity()
    {
        var r = f.Compile("fp16", CompileFixture.Yaml("  kind: none", fallback: "fp16"));

        Assert.All(r.Decisions, d => Assert.Equal(LayerPrecision.Fp16, d.Precision));
        var cpu = Assert.Single(r.Providers);
        Assert.InRange(Math.Abs(cpu.PerplexityIncreasePct), 0.0, 0.1);

        var model = OnnxModelIO.Load(Path.Combine(f.Dir, "out", "fp16.onnx"));
        var graph = new OnnxGraph(model.Graph);
        var projections = model.Graph.Node.Where(n => n.OpType == "MatMul" && graph.Initializer(n.Input[1]) is not null).ToList();
        Assert.Equal(36, projections.Count);
        Assert.All(projections, n => Assert.Equal((int)DataType.Float16, graph.Initializer(n.Input[1])!.DataType));
        // No fp32 projection weight is left behind; the embedding (read by Gather) stays fp32.
        Assert.DoesNotContain(model.Graph.Initializer, t => t.Name.EndsWith("_proj.weight", StringComparison.Ordinal));
        Assert.Equal((int)DataType.Float, graph.Initializer("model.embed_tokens.weight")!.DataType);
        // Graph inputs and outputs keep their types.
        Assert.All(model.Graph.Output, o => Assert.Equal((int)DataType.Float, o.Type.TensorType.ElemType));
    }

    [Fact]
    public void ExcludedLayers_StayOutOfInt8_WithTheMatchingPatternAsReason()
    {
        var r = f.Compile("exclude", CompileFixture.Yaml("  kind: all-int8\n  exclude: [\"*.down_proj\", \"lm_head\"]", calibTokens: 1024, evalTokens: 1024));

        var fp32 = r.Decisions.Where(d => d.Precision == LayerPrecision.Fp32).Select(d => d.Layer.Name).Order().ToList();
        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"model.layers.{i}.mlp.down_proj").Append("lm_head").Order(), fp32);
        Assert.Contains("*.down_proj", r.Decisions.First(d => d.Layer.Name == "model.layers.2.mlp.down_proj").Reason);
        Assert.Equal(30, r.Int8Layers);
        Assert.Equal(30, r.Int8FusedOnCpu);
    }

    [Fact]
    public void ImpossibleGate_FailsWithMc2001_PointingAtTheSpecLine()
    {
        var yaml = CompileFixture.Yaml("  kind: all-int8", gates: "gates:\n  max_perplexity_increase_pct: 0.0001", calibTokens: 1024, evalTokens: 1024);
        var r = f.Compile("gate", yaml);

        Assert.False(r.Passed);
        var gate = Assert.Single(r.Gates);
        Assert.Equal("MC2001", gate.Code);
        Assert.False(gate.Passed);
        var specLines = File.ReadAllLines(Path.Combine(f.Dir, "gate.yaml"));
        Assert.Contains("max_perplexity_increase_pct", specLines[gate.Location.Line - 1]);
        // Outputs are still written so the user can inspect them; the manifest names the failed gate.
        var manifest = File.ReadAllText(Path.Combine(f.Dir, "out", "gate.manifest.json"));
        Assert.Contains("\"failed_gate\": \"max_perplexity_increase_pct\"", manifest);
        Assert.Contains("\"passed\": false", manifest);
    }

    [Fact]
    public void TwoRuns_GiveByteIdenticalModelManifestAndReport()
    {
        var yaml = CompileFixture.Yaml("  kind: all-int8\n  exclude: [lm_head]", fallback: "fp16", calibTokens: 1024, evalTokens: 512);
        string Out(string ext) => Path.Combine(f.Dir, "out", "det" + ext);
        f.Compile("det", yaml);
        var first = new[] { ".onnx", ".manifest.json", ".report.md" }.Select(e => File.ReadAllBytes(Out(e))).ToList();
        f.Compile("det", yaml);
        Assert.Equal(first[0], File.ReadAllBytes(Out(".onnx")));
        Assert.Equal(first[1], File.ReadAllBytes(Out(".manifest.json")));
        Assert.Equal(first[2], File.ReadAllBytes(Out(".report.md")));
    }

    [Fact]
    public void Int8Weights_MatchAnIndependentSymmetricPerChannelQuantization()
    {
        f.Compile("weights", CompileFixture.Yaml("  kind: all-int8", calibTokens: 512, evalTokens: 512));
        var fp32 = new OnnxGraph(OnnxModelIO.Load(f.ModelPath).Graph);
        var q = new OnnxGraph(OnnxModelIO.Load(Path.Combine(f.Dir, "out", "weights.onnx")).Graph);

        const string name = "model.layers.4.mlp.down_proj";
        var w = TensorData.ReadFloats(fp32.Initializer(name + ".weight")!); // [in=172, out=64]
        var qw = q.Initializer(name + ".weight_quantized")!;
        var scales = TensorData.ReadFloats(q.Initializer(name + ".weight_scale")!);
        var values = TensorData.ReadBytes(qw).Select(b => (sbyte)b).ToArray();
        Assert.Equal([172L, 64L], qw.Dims);
        for (var j = 0; j < 64; j++)
        {
            double absMax = 0;
            for (var i = 0; i < 172; i++) absMax = Math.Max(absMax, Math.Abs((double)w[i * 64 + j]));
            var expectedScale = absMax / 127.0;
            Assert.Equal(expectedScale, scales[j], expectedScale * 1e-6);
            for (var i = 0; i < 172; i++)
            {
                var exact = w[i * 64 + j] / expectedScale;
                var got = values[i * 64 + j];
                Assert.True(Math.Abs(got - exact) <= 0.5 + 1e-4, $"[{i},{j}] {got} vs {exact}");
            }
        }
    }

    [Fact]
    public void DataFreeCalibration_FromGeneratedTokens_Works()
    {
        var yaml = """
            calibration:
              generated: { tokens: 1024, seed: 7 }
            evaluation:
              text: data/eval.txt
              max_tokens: 1024
            policy: { kind: all-int8 }
            """;
        var r = f.Compile("generated", yaml);
        Assert.Equal(1024, r.Calibration.Tokens);
        Assert.InRange(r.Providers[0].PerplexityIncreasePct, -1.0, 3.0);
    }

    [Fact]
    public void ModelWithoutQuantizableLayers_IsMc1041_AndWritesNothing()
    {
        var model = OnnxModelIO.Load(f.ModelPath);
        model.Graph.Node.Clear();
        var path = Path.Combine(f.Dir, "empty-graph.onnx");
        OnnxModelIO.Save(model, path);
        var spec = f.Spec("nolayers", CompileFixture.Yaml("  kind: all-int8"));
        var output = Path.Combine(f.Dir, "out-nolayers", "m.onnx");

        var e = Assert.Throws<ModelCompilerException>(() => QuantizationCompiler.Compile(new CompileOptions(path, spec, output), new CompileFixture.SilentReporter()));
        Assert.Equal("MC1041", e.Code);
        Assert.False(Directory.Exists(Path.GetDirectoryName(output)) && Directory.EnumerateFileSystemEntries(Path.GetDirectoryName(output)!).Any());
    }

    [Fact]
    public void NaNDuringCalibration_IsMc1044_AndLeavesNoOutputs()
    {
        var model = OnnxModelIO.Load(f.ModelPath);
        var embedding = model.Graph.Initializer.First(t => t.Name == "model.embed_tokens.weight");
        var values = TensorData.ReadFloats(embedding);
        Array.Fill(values, float.NaN, 1 * 64, 64); // BOS row: every window starts with it
        embedding.RawData = TensorData.Floats("x", values).RawData;
        var dir = Path.Combine(f.Dir, "nan");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "nan.onnx");
        OnnxModelIO.Save(model, path);
        File.Copy(Path.Combine(f.Dir, "stories260K.tokenizer.bin"), Path.Combine(dir, "nan.tokenizer.bin"));
        var spec = f.Spec("nan", CompileFixture.Yaml("  kind: all-int8", calibTokens: 512, evalTokens: 512));
        var outDir = Path.Combine(dir, "out");

        var e = Assert.Throws<ModelCompilerException>(() => QuantizationCompiler.Compile(new CompileOptions(path, spec, Path.Combine(outDir, "q.onnx")), new CompileFixture.SilentReporter()));
        Assert.Equal("MC1044", e.Code);
        Assert.Contains("NaN", e.Message);
        Assert.Empty(Directory.Exists(outDir) ? Directory.EnumerateFileSystemEntries(outDir) : Array.Empty<string>());
    }

    [Fact]
    public void TokenizerWithTheWrongVocabulary_IsMc1022()
    {
        var tok = Path.Combine(f.Dir, "small-tokenizer.bin");
        // A llama2.c tokenizer file with 300 entries: fewer than the model's 512.
        using (var w = new BinaryWriter(File.Create(tok)))
        {
            w.Write(8);
            for (var i = 0; i < 300; i++)
            {
                var piece = i < 3 ? new[] { "<unk>", "<s>", "</s>" }[i] : i < 259 ? $"<0x{i - 3:X2}>" : ((char)('a' + (i % 26))).ToString() + i;
                var bytes = System.Text.Encoding.UTF8.GetBytes(piece);
                w.Write(0f);
                w.Write(bytes.Length);
                w.Write(bytes);
            }
        }
        var yaml = CompileFixture.Yaml("  kind: all-int8").Replace("  text: data/calib.txt", "  text: data/calib.txt\n  tokenizer: small-tokenizer.bin");
        var e = Assert.Throws<ModelCompilerException>(() => f.Compile("vocab", yaml));
        Assert.Equal("MC1022", e.Code);
    }

    [Fact]
    public void ModelWithExternalData_IsReadFromItsSideFile_AndListedAsAnInput()
    {
        var dir = Path.Combine(f.Dir, "external");
        var model = Path.Combine(dir, "ext.onnx");
        ModelCompiler.Import.Llama2cImporter.Import(ModelCompiler.Tests.TestPaths.Checkpoint, ModelCompiler.Tests.TestPaths.Tokenizer, model, new SaveOptions { ExternalData = ExternalDataMode.Always });
        Assert.True(File.Exists(model + ".data"));
        var spec = f.Spec("external", CompileFixture.Yaml("  kind: all-int8", calibTokens: 512, evalTokens: 512));
        var deps = Path.Combine(dir, "out", "ext.deps");
        var r = QuantizationCompiler.Compile(new CompileOptions(model, spec, Path.Combine(dir, "out", "q.onnx")) { DepsPath = deps }, new CompileFixture.SilentReporter());

        Assert.Equal(36, r.Int8Layers);
        Assert.Contains(r.Inputs, i => i.Role == "model_data" && i.Path == "ext.onnx.data");
        Assert.Contains(model + ".data", File.ReadAllLines(deps));
    }

    [Fact]
    public void ModelWithExternalData_ReadLazily_CompilesToTheSameModelAndReport_AsTheInlineModel()
    {
        // The external-data path keeps weights on disk: calibration's tap model refers to the original side file and
        // validation compares against fp32 logits stored on disk. Every figure must equal the inline model's.
        var dir = Path.Combine(f.Dir, "external-same");
        var model = Path.Combine(dir, "stories260K.onnx"); // the report names the model
        ModelCompiler.Import.Llama2cImporter.Import(ModelCompiler.Tests.TestPaths.Checkpoint, ModelCompiler.Tests.TestPaths.Tokenizer, model, new SaveOptions { ExternalData = ExternalDataMode.Always });
        var spec = f.Spec("external-same", CompileFixture.Yaml("  kind: all-int8", calibTokens: 512, evalTokens: 512));
        var fromExternal = Path.Combine(dir, "a", "q.onnx");
        var fromInline = Path.Combine(dir, "b", "q.onnx");
        var a = QuantizationCompiler.Compile(new CompileOptions(model, spec, fromExternal), new CompileFixture.SilentReporter());
        var b = QuantizationCompiler.Compile(new CompileOptions(f.ModelPath, spec, fromInline), new CompileFixture.SilentReporter());

        Assert.Equal(File.ReadAllBytes(fromInline), File.ReadAllBytes(fromExternal));
        Assert.Equal(File.ReadAllText(Path.ChangeExtension(fromInline, ".report.md")), File.ReadAllText(Path.ChangeExtension(fromExternal, ".report.md")));
        Assert.Equal(b.Providers[0].MeanKlDivergence, a.Providers[0].MeanKlDivergence);
        Assert.Equal(b.Providers[0].QuantizedPerplexity, a.Providers[0].QuantizedPerplexity);
        Assert.NotEmpty(a.StagePeakRss);
        Assert.Equal(a.Timings.Select(t => t.Stage), a.StagePeakRss.Select(p => p.Stage));
    }

    [Fact]
    public void CudaTarget_WithoutCudaRuntime_ValidatesOnCpu_AndWarnsAboutCuda()
    {
        var yaml = CompileFixture.Yaml("  kind: all-int8\n  exclude: [\"*.down_proj\"]", calibTokens: 512, evalTokens: 512)
            .Replace("target: cpu", "target: cuda").Replace("fallback: fp32", "");
        var spec = f.Spec("cuda", yaml);
        var reporter = new CompileFixture.SilentReporter();
        var r = QuantizationCompiler.Compile(new CompileOptions(f.ModelPath, spec, Path.Combine(f.Dir, "out", "cuda.onnx")), reporter);

        Assert.Equal(["cuda", "cpu"], r.Providers.Select(p => p.Provider));
        Assert.Equal(ProviderStatus.Unavailable, r.Providers[0].Status);
        Assert.Equal(ProviderStatus.Ok, r.Providers[1].Status);
        Assert.Contains(reporter.Warnings, w => w.Contains("warning MC3005") && w.Contains("'cuda'"));
        // target cuda defaults the fallback to fp16.
        Assert.All(r.Decisions.Where(d => d.Layer.Name.EndsWith("down_proj", StringComparison.Ordinal)), d => Assert.Equal(LayerPrecision.Fp16, d.Precision));
    }

    [Fact]
    public void OutputOverTheInput_IsRefused()
    {
        var spec = f.Spec("self", CompileFixture.Yaml("  kind: all-int8"));
        var e = Assert.Throws<ModelCompilerException>(() => QuantizationCompiler.Compile(new CompileOptions(f.ModelPath, spec, f.ModelPath), new CompileFixture.SilentReporter()));
        Assert.Equal("MC1007", e.Code);
    }
}

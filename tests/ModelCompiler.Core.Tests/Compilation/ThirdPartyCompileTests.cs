using ModelCompiler.Calibration;
using ModelCompiler.Compilation;
using ModelCompiler.Evaluation;
using ModelCompiler.Onnx;
using ModelCompiler.Onnx.Proto;
using ModelCompiler.Quantization;
using ModelCompiler.Runtime;
using ModelCompiler.Tests;
using ModelCompiler.Transforms;
using DataType = ModelCompiler.Onnx.Proto.TensorProto.Types.DataType;

namespace ModelCompiler.Core.Tests.Compilation;

/// <summary>
/// Issue 7's acceptance on every decoder other producers exported (../shared/models/thirdparty, copied into a temp
/// folder): a data-free all-INT8 compile passes, the output loads in ONNX Runtime with the input's interface (names
/// and element types: int32 ids, fp16 KV and logits stay so), perplexity and greedy generation run on input and
/// output, and the INT8 layers fuse into ORT's CPU integer kernels. Random weights: perplexity is about the
/// vocabulary size, so the check is that INT8 stays close to the input model, not an absolute value.
/// </summary>
public sealed class ThirdPartyCompileTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("mc-thirdparty");

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string CopyModel(string folder, string file)
    {
        var target = Path.Combine(_dir, folder);
        Directory.CreateDirectory(target);
        foreach (var f in Directory.GetFiles(Path.Combine(TestPaths.Shared, "models", "thirdparty", folder)))
            File.Copy(f, Path.Combine(target, Path.GetFileName(f)));
        return Path.Combine(target, file);
    }

    private CompileResult Compile(string model, string target, string name)
    {
        var spec = Path.Combine(_dir, name + ".yaml");
        File.WriteAllText(spec, $"""
            target: {target}
            calibration:
              generated: {"{"} tokens: 32, seed: 1 {"}"}
              context: 16
            evaluation:
              generated: {"{"} tokens: 32, seed: 2 {"}"}
              context: 16
            policy:
              kind: all-int8
            """);
        return QuantizationCompiler.Compile(new CompileOptions(model, spec, Path.Combine(_dir, "out", name + ".onnx")), new CompileFixture.SilentReporter());
    }

    private static List<(string Name, Microsoft.ML.OnnxRuntime.Tensors.TensorElementType Type)> Interface(DecoderSession s, bool outputs) =>
        (outputs ? s.Session.OutputMetadata : s.Session.InputMetadata).Select(p => (p.Key, p.Value.ElementDataType)).ToList();

    public static TheoryData<string, string, int> Decoders => new()
    {
        { "genai-tiny-random-llama-fp16", "model.onnx", 15 },
        { "ort-tiny-random-gpt2-fp32", "past.onnx", 16 },
        { "ort-tiny-random-gpt2-fp16", "past.onnx", 16 },
        { "genai-dummy-lfm2", "decoder.onnx", 1 },
    };

    [Theory]
    [MemberData(nameof(Decoders))]
    public void Data_free_all_int8_compiles_keeps_the_interface_and_runs_eval_and_generate(string folder, string file, int layers)
    {
        var input = CopyModel(folder, file);
        var r = Compile(input, "cpu", folder);

        Assert.True(r.Passed);
        Assert.Equal(layers, r.Int8Layers);
        Assert.Equal(layers, r.Int8FusedOnCpu); // target cpu: every INT8 layer runs in an integer kernel
        var output = r.Options.OutputPath;
        using var fp = new DecoderSession(input, Deterministic.SessionOptions());
        using var q = new DecoderSession(output, Deterministic.SessionOptions());
        Assert.Equal(Interface(fp, outputs: false), Interface(q, outputs: false));
        Assert.Equal(Interface(fp, outputs: true), Interface(q, outputs: true));

        var tokens = GeneratedTokens.Sample(input, 24, 12, seed: 5, "test");
        var before = PerplexityEvaluator.Evaluate(fp, tokens, 12);
        var after = PerplexityEvaluator.Evaluate(q, tokens, 12);
        Assert.True(double.IsFinite(after.Perplexity));
        Assert.InRange(after.Perplexity / before.Perplexity, 0.97, 1.03);

        var prompt = tokens.Tokens.Take(3).ToArray();
        var generated = TextGenerator.Generate(q, prompt, 6).ToList();
        Assert.Equal(6, generated.Count);
        Assert.All(generated, t => Assert.InRange(t, 0, q.VocabSize - 1));
        Assert.Equal(6, TextGenerator.Generate(fp, prompt, 6).Count());
    }

    [Theory]
    [InlineData("genai-tiny-random-llama-fp16", "model.onnx")]
    [InlineData("ort-tiny-random-gpt2-fp16", "past.onnx")]
    public void Fp16_model_for_cuda_keeps_fp16_with_fp16_scales(string folder, string file)
    {
        var input = CopyModel(folder, file);
        var r = Compile(input, "cuda", folder + "-cuda");
        Assert.True(r.Passed);

        var original = OnnxModelIO.Load(input);
        var model = OnnxModelIO.Load(r.Options.OutputPath);
        var qdq = model.Graph.Node.Where(n => n.OpType is "QuantizeLinear" or "DequantizeLinear").ToList();
        Assert.Equal(2 * r.Int8Layers, qdq.Count(n => n.OpType == "DequantizeLinear")); // activation and weight per layer
        var inits = model.Graph.Initializer.ToDictionary(t => t.Name);
        Assert.All(qdq, n =>
        {
            Assert.Equal(QdqForm.MicrosoftDomain, n.Domain); // opset 14 / 11: fp16 scales need the contrib Q/DQ
            Assert.Equal((int)DataType.Float16, inits[n.Input[1]].DataType);
        });
        // The rest stays fp16: no Cast is added anywhere.
        Assert.Equal(original.Graph.Node.Count(n => n.OpType == "Cast"), model.Graph.Node.Count(n => n.OpType == "Cast"));
        Assert.Equal(original.Graph.Input.Select(i => (i.Name, i.Type.TensorType.ElemType)), model.Graph.Input.Select(i => (i.Name, i.Type.TensorType.ElemType)));
        Assert.Equal(original.Graph.Output.Select(i => (i.Name, i.Type.TensorType.ElemType)), model.Graph.Output.Select(i => (i.Name, i.Type.TensorType.ElemType)));
    }

    [Fact]
    public void Fp16_calibration_observes_what_the_fp32_export_of_the_same_model_observes()
    {
        // The ORT GPT-2 fp32 and fp16 exports hold the same random checkpoint: the fp16 taps, converted to fp32
        // for statistics, must give the ranges the fp32 graph gives, within fp16 rounding.
        var fp32 = Path.Combine(TestPaths.Shared, "models", "thirdparty", "ort-tiny-random-gpt2-fp32", "past.onnx");
        var fp16 = Path.Combine(TestPaths.Shared, "models", "thirdparty", "ort-tiny-random-gpt2-fp16", "past.onnx");
        var tokens = GeneratedTokens.Sample(fp32, 48, 16, seed: 3, "test");

        CalibrationResult Calibrate(string path, string work)
        {
            var model = OnnxModelIO.Load(path);
            var layers = LayerDiscovery.Find(new OnnxGraph(model.Graph));
            Directory.CreateDirectory(Path.Combine(_dir, work));
            return Calibrator.Run(model, layers, tokens, 16, Path.Combine(_dir, work));
        }
        var a = Calibrate(fp32, "c32");
        var b = Calibrate(fp16, "c16");
        Assert.Equal(a.ByActivation.Keys.Order(), b.ByActivation.Keys.Order());
        foreach (var (name, s32) in a.ByActivation)
        {
            var s16 = b.ByActivation[name];
            var scale = Math.Max(Math.Abs(s32.Min), Math.Abs(s32.Max));
            Assert.True(Math.Abs(s32.Min - s16.Min) <= 0.02 * scale, $"{name}: min {s32.Min} vs fp16 {s16.Min}");
            Assert.True(Math.Abs(s32.Max - s16.Max) <= 0.02 * scale, $"{name}: max {s32.Max} vs fp16 {s16.Max}");
        }
    }
}

using BenchmarkDotNet.Attributes;
using ModelCompiler.Compilation;
using ModelCompiler.Import;
using ModelCompiler.Onnx;
using ModelCompiler.Onnx.Proto;
using ModelCompiler.Policies;
using ModelCompiler.Validation;

namespace ModelCompiler.Benchmarks;

/// <summary>
/// One benchmark per compile stage (load, sample, calibrate, statistics, decide, transform, validate, save) on a
/// synthetic LLaMA whose size the environment chooses (MODELC_BENCH_DIM etc., defaults: dim 512, hidden 1376,
/// 4 layers, vocab 8192, about 50 MB fp32). Global setup runs the whole pipeline once; each benchmark then
/// re-runs its own stage on that state, so the stages are timed on the same data a real compile sees.
/// </summary>
[MemoryDiagnoser]
public class CompileStageBenchmarks
{
    private string _dir = "";
    private int _validations;
    private CompileState _state = null!;
    private CompileAttempt _attempt = null!;
    private ModelProto _transformed = null!;

    private static int Env(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out var v) && v > 0 ? v : fallback;

    [GlobalSetup]
    public void Setup()
    {
        _dir = Directory.CreateTempSubdirectory("mc-bdn-").FullName;
        var dim = Env("MODELC_BENCH_DIM", 512);
        var options = new SyntheticLlamaOptions
        {
            Dim = dim,
            HiddenDim = Env("MODELC_BENCH_HIDDEN", dim * 11 / 4 / 16 * 16),
            Layers = Env("MODELC_BENCH_LAYERS", 4),
            Heads = Env("MODELC_BENCH_HEADS", 8),
            KvHeads = Env("MODELC_BENCH_HEADS", 8),
            VocabSize = Env("MODELC_BENCH_VOCAB", 8192),
            Seed = 1,
        };
        var model = Path.Combine(_dir, "model.onnx");
        SyntheticLlama.Generate(options, tokenizerPath: null, model);
        var tokens = Env("MODELC_BENCH_TOKENS", 512);
        var spec = Path.Combine(_dir, "q.yaml");
        File.WriteAllText(spec, $"target: cpu\ncalibration:\n  generated: {{ tokens: {tokens}, seed: 1 }}\nevaluation:\n  generated: {{ tokens: {tokens}, seed: 2 }}\npolicy:\n  kind: spike\n");
        _state = LoadState();
        CompileStages.Tokens(_state);
        CompileStages.Calibrate(_state);
        CompileStages.Decide(_state);
        _attempt = CompileStages.TransformAndValidate(_state, _state.Decisions, "compile");
        _transformed = _attempt.Model;
    }

    private CompileState LoadState() => CompileStages.Load(
        new CompileOptions(Path.Combine(_dir, "model.onnx"), Path.Combine(_dir, "q.yaml"), Path.Combine(_dir, "out", "q.onnx")), new SilentReporter());

    [GlobalCleanup]
    public void Cleanup()
    {
        _state.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Benchmark(Description = "load (spec, model, layers)")]
    public void Load()
    {
        using var s = LoadState();
    }

    [Benchmark(Description = "sample (data-free tokens)")]
    public void Sample() => CompileStages.Tokens(_state);

    [Benchmark(Description = "calibrate (activation taps + ranges)")]
    public void Calibrate() => CompileStages.Calibrate(_state);

    [Benchmark(Description = "statistics (candidates)")]
    public int Statistics() => CandidateBuilder.Build(_state.Fp32Graph, _state.Layers, _state.Calibration).Count;

    [Benchmark(Description = "decide (policy)")]
    public void Decide() => CompileStages.Decide(_state);

    [Benchmark(Description = "transform (QDQ + fallback)")]
    public ModelProto Transform() => CompileStages.Transform(_state, _state.Decisions).Model;

    // A fresh reference cache each time, so every iteration runs the fp32 pass and then the quantized one.
    [Benchmark(Description = "validate (fp32 vs quantized)")]
    public int Validate()
    {
        var work = Directory.CreateDirectory(Path.Combine(_dir, "validate-" + _validations++)).FullName;
        return QuantizationValidator.Validate(_state.ModelPath, _attempt.StagedModel, _state.EvaluationTokens,
            _state.Spec.Evaluation.Context.Value, ["cpu"], [], work, new Dictionary<string, Fp32Reference>()).Count;
    }

    [Benchmark(Description = "save (protobuf + external data)")]
    public void Save()
    {
        var path = Path.Combine(_dir, "saved", "q.onnx");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        OnnxModelIO.Save(_transformed, path);
    }

    private sealed class SilentReporter : ICompileReporter
    {
        public void Stage(string stage, string detail) { }
        public IProgress<Evaluation.EvaluationProgress>? Progress(string stage) => null;
        public void Warning(string diagnosticLine) { }
    }
}

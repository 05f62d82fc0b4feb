using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using ModelCompiler.Benchmarks;

// In-process: the benchmarks load ONNX Runtime's native library and a model of tens of MB; a child process per
// benchmark would only add a rebuild. Monitoring strategy: each stage is a long operation, timed a few times.
// BenchmarkDotNet's own arguments pass through (e.g. --filter '*Calibrate*').
var job = Job.Default.WithStrategy(RunStrategy.Monitoring).WithLaunchCount(1).WithWarmupCount(1).WithIterationCount(5)
    .WithToolchain(InProcessEmitToolchain.Instance);
var config = ManualConfig.Create(DefaultConfig.Instance).AddJob(job).WithOptions(ConfigOptions.DisableOptimizationsValidator);
BenchmarkSwitcher.FromAssembly(typeof(CompileStageBenchmarks).Assembly).Run(args, config);

using ModelCompiler.Tests;

namespace ModelCompiler.Cli.Tests;

/// <summary>
/// The compile's ORT sessions use every core by default; that is only acceptable if the thread count cannot
/// change a byte of the outputs. A model wide enough (dim 512) that ORT's kernels really split their work.
/// </summary>
public sealed class ThreadCountTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("mc-cli-threads");

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void Compile_WithOneOrSeveralThreads_WritesIdenticalBytes()
    {
        var model = Path.Combine(_dir, "w.onnx");
        var import = Modelc.Run("import", "synthetic-llama", "--dim", "512", "--hidden", "1376", "--layers", "2", "--heads", "8",
            "--kv-heads", "8", "--vocab", "2048", "--seed", "4", "--spike-layers", "1", "--output", model);
        Assert.True(import.ExitCode == 0, import.ToString());
        var spec = Path.Combine(_dir, "w.yaml");
        File.WriteAllText(spec, "target: cpu\ncalibration:\n  generated: { tokens: 192, seed: 1 }\n  context: 64\nevaluation:\n  generated: { tokens: 192, seed: 2 }\n  context: 64\npolicy:\n  kind: spike\n");

        var outputs = new List<string[]>();
        foreach (var threads in new[] { "1", "3" })
        {
            var dir = Directory.CreateDirectory(Path.Combine(_dir, "t" + threads)).FullName;
            var r = Modelc.Run("compile", "--model", model, "--spec", spec, "-o", Path.Combine(dir, "q.onnx"), "--threads", threads);
            Assert.True(r.ExitCode == 0, r.ToString());
            outputs.Add(new[] { "q.onnx", "q.manifest.json", "q.report.md" }.Select(f => Convert.ToHexString(File.ReadAllBytes(Path.Combine(dir, f)))).ToArray());
        }
        Assert.Equal(outputs[0], outputs[1]);
    }
}

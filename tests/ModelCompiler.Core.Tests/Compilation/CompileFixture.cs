using ModelCompiler.Compilation;
using ModelCompiler.Import;
using ModelCompiler.Tests;

namespace ModelCompiler.Core.Tests.Compilation;

/// <summary>
/// stories260K imported once, plus calibration and evaluation texts cut from two different parts of
/// tinystories_valid_excerpt.txt (the evaluation part is never seen by calibration).
/// </summary>
public sealed class CompileFixture : IDisposable
{
    public CompileFixture()
    {
        Dir = TestPaths.NewTempDir("mc-compile");
        ModelPath = Path.Combine(Dir, "stories260K.onnx");
        Llama2cImporter.Import(TestPaths.Checkpoint, TestPaths.Tokenizer, ModelPath);
        var text = File.ReadAllText(TestPaths.TinyStoriesValid);
        var half = text.Length / 2;
        Directory.CreateDirectory(Path.Combine(Dir, "data"));
        File.WriteAllText(Path.Combine(Dir, "data", "calib.txt"), text[..half]);
        File.WriteAllText(Path.Combine(Dir, "data", "eval.txt"), text[half..]);
    }

    public string Dir { get; }
    public string ModelPath { get; }

    /// <summary>Writes a spec into its own folder (beside data/ via a relative path) and returns its path.</summary>
    public string Spec(string name, string yaml)
    {
        var path = Path.Combine(Dir, name + ".yaml");
        File.WriteAllText(path, yaml);
        return path;
    }

    public static string Yaml(string policy, string fallback = "fp32", string gates = "", int calibTokens = 4096, int evalTokens = 4096) => $"""
        target: cpu
        calibration:
          text: data/calib.txt
          max_tokens: {calibTokens}
        evaluation:
          text: data/eval.txt
          max_tokens: {evalTokens}
        policy:
        {policy}
        fallback: {fallback}
        {gates}
        """;

    public CompileResult Compile(string specName, string yaml, string? outputName = null)
    {
        var spec = Spec(specName, yaml);
        var output = Path.Combine(Dir, "out", (outputName ?? specName) + ".onnx");
        return QuantizationCompiler.Compile(new CompileOptions(ModelPath, spec, output), new SilentReporter());
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }

    public sealed class SilentReporter : ICompileReporter
    {
        public List<string> Warnings { get; } = [];
        public void Stage(string stage, string detail) { }
        public IProgress<Evaluation.EvaluationProgress>? Progress(string stage) => null;
        public void Warning(string diagnosticLine) => Warnings.Add(diagnosticLine);
    }
}

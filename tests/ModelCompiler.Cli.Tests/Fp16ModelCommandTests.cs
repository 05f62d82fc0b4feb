using ModelCompiler.Tests;

namespace ModelCompiler.Cli.Tests;

/// <summary>
/// The fp16 GenAI-builder LLaMA end to end through the command line, as a user runs it: a data-free all-INT8
/// `modelc compile` exits 0, and `modelc eval` and `modelc generate` run on the input and on the output.
/// </summary>
public sealed class Fp16ModelCommandTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("mc-cli-fp16");

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void Fp16_genai_llama_compiles_data_free_and_evals_and_generates_before_and_after()
    {
        var source = Path.Combine(TestPaths.Shared, "models", "thirdparty", "genai-tiny-random-llama-fp16");
        var input = Path.Combine(_dir, "in");
        Directory.CreateDirectory(input);
        foreach (var f in Directory.GetFiles(source)) File.Copy(f, Path.Combine(input, Path.GetFileName(f)));
        var model = Path.Combine(input, "model.onnx");
        var tokenizer = Path.Combine(input, "tokenizer.json");
        var spec = Path.Combine(_dir, "int8.yaml");
        File.WriteAllText(spec, "calibration:\n  generated: { tokens: 32, seed: 1 }\n  context: 16\nevaluation:\n  generated: { tokens: 32, seed: 2 }\n  context: 16\npolicy:\n  kind: all-int8\n");
        var output = Path.Combine(_dir, "out", "model.int8.onnx");

        var compile = Modelc.Run("compile", "--model", model, "--spec", spec, "--output", output);
        Assert.True(compile.ExitCode == 0, compile.ToString());
        Assert.Contains("15/15 layers INT8", compile.StdErr);
        Assert.DoesNotContain("MC3020", compile.StdErr); // target cpu: the INT8 layers fuse

        var text = Path.Combine(_dir, "text.txt");
        File.WriteAllText(text, "Once upon a time there was a little robot who liked to read books about the sea.\n");
        foreach (var m in new[] { model, output })
        {
            // The tokenizer is passed explicitly: compile stores its copy as <output>.tokenizer.bin (see the report).
            var eval = Modelc.Run("eval", m, "--text", text, "--tokenizer", tokenizer, "--context", "16", "--json");
            Assert.True(eval.ExitCode == 0, eval.ToString());
            Assert.Contains("\"perplexity\"", eval.StdOut);
            var generate = Modelc.Run("generate", m, "--tokenizer", tokenizer, "--max-tokens", "4");
            Assert.True(generate.ExitCode == 0, generate.ToString());
            Assert.False(string.IsNullOrWhiteSpace(generate.StdOut), generate.ToString());
        }
    }
}

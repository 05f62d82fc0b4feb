using System.Globalization;
using System.Text.Json;
using ModelCompiler.Runtime;
using ModelCompiler.Tests;

namespace ModelCompiler.Cli.Tests;

[Collection(ModelcCollection.Name)]
public sealed class CommandTests(ModelcFixture f)
{
    [Fact]
    public void ModelcDll_IsCopiedNextToTheTests_WithWhatItNeedsToRun()
    {
        Assert.True(File.Exists(Modelc.DllPath), Modelc.DllPath);
        Assert.True(File.Exists(Path.ChangeExtension(Modelc.DllPath, ".runtimeconfig.json")));
        Assert.True(File.Exists(Path.ChangeExtension(Modelc.DllPath, ".deps.json")));
    }

    [Fact]
    public void Import_WritesTheModelAndTokenizer()
    {
        Assert.True(f.Import.ExitCode == 0, f.Import.ToString());
        Assert.True(File.Exists(f.ModelPath));
        Assert.Equal(File.ReadAllBytes(TestPaths.Tokenizer), File.ReadAllBytes(f.File("stories260K.tokenizer.bin")));
        Assert.Contains(f.ModelPath, f.Import.StdErr);
        Assert.Equal(["stories260K.onnx", "stories260K.tokenizer.bin"],
            Directory.GetFiles(f.Directory).Select(Path.GetFileName).Where(n => n!.StartsWith("stories260K", StringComparison.Ordinal)).Order());
    }

    [Fact]
    public void EvalJson_OnTinyStoriesSample_GivesThePublishedPerplexity()
    {
        var r = Modelc.Run("eval", f.ModelPath, "--text", TestPaths.TinyStoriesSample, "--json");
        Assert.True(r.ExitCode == 0, r.ToString());

        // stdout is exactly one JSON object (progress goes to stderr).
        using var json = JsonDocument.Parse(r.StdOut);
        var root = json.RootElement;
        var perplexity = root.GetProperty("perplexity").GetDouble();
        Assert.InRange(perplexity, 3.8459 * 0.999, 3.8459 * 1.001);
        Assert.Equal(1801, root.GetProperty("tokens").GetInt32());
        Assert.Equal(8, root.GetProperty("windows").GetInt32());
        Assert.Equal(256, root.GetProperty("context").GetInt32());
        Assert.Equal("cpu", root.GetProperty("provider").GetString());
        Assert.Equal(f.ModelPath, root.GetProperty("model").GetString());
        Assert.Equal(Math.Exp(root.GetProperty("nll").GetDouble() / 1801), perplexity, 9);
    }

    [Fact]
    public void Eval_PlainOutput_AndTokenLimit()
    {
        var r = Modelc.Run("eval", f.ModelPath, "--text", TestPaths.TinyStoriesSample, "--max-tokens", "300", "--context", "128");
        Assert.True(r.ExitCode == 0, r.ToString());
        // 300 tokens in windows of 128: 127 + 127 + 43 predicted.
        Assert.Matches(@"^perplexity \d+\.\d{4} over 297 tokens \(3 windows of ≤128, cpu, ", r.StdOut);
        Assert.Contains("[eval] window 3/3", r.StdErr);
    }

    [Fact]
    public void Eval_WithAnExplicitTokenizer_GivesTheSameResult()
    {
        var a = Modelc.Run("eval", f.ModelPath, "--text", TestPaths.TinyStoriesSample, "--json", "--max-tokens", "200");
        var b = Modelc.Run("eval", f.ModelPath, "--text", TestPaths.TinyStoriesSample, "--json", "--max-tokens", "200", "--tokenizer", TestPaths.Tokenizer);
        Assert.True(a.ExitCode == 0 && b.ExitCode == 0, a + "\n" + b);
        double P(ModelcResult r) => JsonDocument.Parse(r.StdOut).RootElement.GetProperty("perplexity").GetDouble();
        Assert.Equal(P(a), P(b));
    }

    [Fact]
    public void Generate_FromBos_TellsTheKnownStory()
    {
        var r = Modelc.Run("generate", f.ModelPath, "--max-tokens", "40");
        Assert.True(r.ExitCode == 0, r.ToString());
        // The CLI prints the raw token pieces: the first word keeps its leading space.
        Assert.StartsWith(" Once upon a time, there was a little girl named Lily.", r.StdOut, StringComparison.Ordinal);
        Assert.EndsWith("\n", r.StdOut);
    }

    [Fact]
    public void Generate_WithAPrompt_EchoesItAndContinuesLikeTheLibrary()
    {
        const string prompt = "Tom and his big dog";
        var r = Modelc.Run("generate", f.ModelPath, "--prompt", prompt, "--max-tokens", "20");
        Assert.True(r.ExitCode == 0, r.ToString());

        // In-process, through the library: BOS + Encode(prompt), greedy, 20 tokens.
        using var session = new DecoderSession(f.ModelPath);
        var tok = ModelTokenizer.Load(session, null);
        var ids = new List<int> { 1 };
        ids.AddRange(tok.Encode(prompt));
        var generated = TextGenerator.Generate(session, ids, 20, stopToken: 2).ToList();
        var continuation = string.Concat(generated.Select(tok.GetPiece));
        Assert.Equal(prompt + continuation + "\n", r.StdOut);
    }

    [Fact]
    public void Generate_Sampling_IsReproducibleWithASeed()
    {
        string[] args = ["generate", f.ModelPath, "--max-tokens", "30", "--temperature", "1", "--top-p", "0.9", "--seed", "7"];
        var a = Modelc.Run(args);
        var b = Modelc.Run(args);
        Assert.True(a.ExitCode == 0, a.ToString());
        Assert.Equal(a.StdOut, b.StdOut);
        Assert.True(a.StdOut.Length > 30);
    }

    [Fact]
    public void Help_ListsTheCommands()
    {
        var r = Modelc.Run("--help");
        Assert.Equal(0, r.ExitCode);
        foreach (var command in new[] { "import", "eval", "generate" }) Assert.Contains(command, r.StdOut);
    }

    [Fact]
    public void Import_WithExternalData_WritesASideFileThatEvalReads()
    {
        var dir = Directory.CreateDirectory(f.File("ext")).FullName;
        var model = Path.Combine(dir, "m.onnx");
        var r = Modelc.Run("import", "llama2c", TestPaths.Checkpoint, "--tokenizer", TestPaths.Tokenizer, "--output", model, "--external-data");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.True(File.Exists(model + ".data"));
        var e = Modelc.Run("eval", model, "--text", TestPaths.TinyStoriesSample, "--json");
        Assert.True(e.ExitCode == 0, e.ToString());
        Assert.InRange(JsonDocument.Parse(e.StdOut).RootElement.GetProperty("perplexity").GetDouble(), 3.8459 * 0.999, 3.8459 * 1.001);
    }
}

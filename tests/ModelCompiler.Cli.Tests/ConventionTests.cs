using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using ModelCompiler.Onnx;
using ModelCompiler.Runtime;
using ModelCompiler.Tests;
using ModelCompiler.Tokenization;

namespace ModelCompiler.Cli.Tests;

/// <summary>What holds for every command: exit codes in --help, --json, and one way to name the model.</summary>
[Collection(ModelcCollection.Name)]
public sealed class ConventionTests(ModelcFixture f)
{
    /// <summary>Every command that does something (leaves of the command tree).</summary>
    public static TheoryData<string> Commands() =>
    [
        "import llama2c", "import synthetic-llama", "eval", "generate", "tokenize", "compile", "sensitivity", "train-predictor", "bench",
    ];

    [Theory]
    [MemberData(nameof(Commands))]
    [InlineData("")]
    [InlineData("import")]
    public void Help_of_the_root_and_every_command_lists_the_exit_codes(string command)
    {
        var r = Modelc.Run([.. command.Split(' ', StringSplitOptions.RemoveEmptyEntries), "--help"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        var section = r.StdOut[r.StdOut.IndexOf("Exit codes:", StringComparison.Ordinal)..];
        foreach (var code in new[] { "0  success", "1  ", "2  bad input", "3  runtime failure" })
            Assert.Contains("\n  " + code, section);
        Assert.Contains("docs/errors.md", section);
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void Every_command_offers_json_and_its_help_gives_the_shape(string command)
    {
        var r = Modelc.Run([.. command.Split(' '), "--help"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        var line = r.StdOut.Split('\n').Single(l => l.TrimStart().StartsWith("--json", StringComparison.Ordinal));
        Assert.Contains("{", line);
    }

    [Fact]
    public void Generate_json_holds_the_ids_and_the_same_text_as_the_plain_run()
    {
        var plain = Modelc.Run("generate", f.ModelPath, "--max-tokens", "20");
        var r = Modelc.Run("generate", "--model", f.ModelPath, "--max-tokens", "20", "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        using var json = JsonDocument.Parse(r.StdOut);
        var root = json.RootElement;
        var ids = root.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToList();
        Assert.Equal(20, ids.Count);
        Assert.Equal("max_tokens", root.GetProperty("stop").GetString());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("prompt").ValueKind);
        Assert.Equal(plain.StdOut, root.GetProperty("text").GetString() + "\n");

        // The ids are the library's greedy continuation from BOS, and decode to the text.
        using var session = new DecoderSession(f.ModelPath);
        var tok = ModelTokenizer.Load(session, null);
        Assert.Equal([tok.BosId!.Value], root.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToList());
        Assert.Equal(TextGenerator.Generate(session, [tok.BosId.Value], 20, stopToken: tok.EosId).ToList(), ids);
        Assert.Equal(string.Concat(ids.Select(tok.GetPiece)), root.GetProperty("text").GetString());
    }

    [Fact]
    public void Import_json_names_what_was_written()
    {
        var dir = Directory.CreateDirectory(f.File("conv-import")).FullName;
        var model = Path.Combine(dir, "m.onnx");
        var r = Modelc.Run("import", "llama2c", TestPaths.Checkpoint, "--tokenizer", TestPaths.Tokenizer, "--output", model, "--external-data", "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        using var json = JsonDocument.Parse(r.StdOut);
        var root = json.RootElement;
        Assert.Equal(model, root.GetProperty("output").GetString());
        Assert.True(File.Exists(root.GetProperty("external_data").GetString()));
        Assert.True(File.Exists(root.GetProperty("tokenizer").GetString()));
        var written = OnnxModelIO.Load(model);
        Assert.Equal(written.Graph.Node.Count, root.GetProperty("nodes").GetInt32());
        Assert.Equal(written.Graph.Initializer.Count, root.GetProperty("initializers").GetInt32());

        var synthetic = Path.Combine(dir, "s.onnx");
        var s = Modelc.Run("import", "synthetic-llama", "--dim", "16", "--hidden", "32", "--layers", "1", "--heads", "2", "--vocab", "32", "--max-seq", "16", "--output", synthetic, "--json");
        Assert.True(s.ExitCode == 0, s.ToString());
        using var sj = JsonDocument.Parse(s.StdOut);
        Assert.Equal(JsonValueKind.Null, sj.RootElement.GetProperty("external_data").ValueKind);
        Assert.Equal(JsonValueKind.Null, sj.RootElement.GetProperty("tokenizer").ValueKind);
        // embedding 32x16 (tied to the classifier), per layer 4 attention 16x16 + 3 FFN 16x32 + 2 norms of 16, final norm 16
        var expected = 32 * 16 + (4 * 16 * 16 + 3 * 16 * 32 + 2 * 16) + 16;
        Assert.Equal(expected, sj.RootElement.GetProperty("parameters").GetInt64());
    }

    [Fact]
    public void Eval_takes_the_model_positionally_or_by_name_with_the_same_result()
    {
        var a = Modelc.Run("eval", f.ModelPath, "--text", TestPaths.TinyStoriesSample, "--max-tokens", "200", "--json");
        var b = Modelc.Run("eval", "--model", f.ModelPath, "--text", TestPaths.TinyStoriesSample, "--max-tokens", "200", "--json");
        Assert.True(a.ExitCode == 0 && b.ExitCode == 0, a + "\n" + b);
        using var ja = JsonDocument.Parse(a.StdOut);
        using var jb = JsonDocument.Parse(b.StdOut);
        Assert.Equal(ja.RootElement.GetProperty("perplexity").GetDouble(), jb.RootElement.GetProperty("perplexity").GetDouble());
    }

    private string Spec(string name)
    {
        var dir = Directory.CreateDirectory(f.File("conv-" + name)).FullName;
        var text = File.ReadAllText(TestPaths.TinyStoriesValid);
        File.WriteAllText(Path.Combine(dir, "calib.txt"), text[..(text.Length / 2)]);
        File.WriteAllText(Path.Combine(dir, "eval.txt"), text[(text.Length / 2)..]);
        var spec = Path.Combine(dir, "spec.yaml");
        File.WriteAllText(spec, "calibration: { text: calib.txt, max_tokens: 256 }\nevaluation: { text: eval.txt, max_tokens: 256 }\npolicy:\n  kind: all-int8\n");
        return spec;
    }

    [Fact]
    public void Compile_takes_the_model_positionally_or_by_name_and_writes_the_same_bytes()
    {
        var spec = Spec("compile");
        var dir = Path.GetDirectoryName(spec)!;
        var positional = Modelc.Run("compile", f.ModelPath, "--spec", spec, "--output", Path.Combine(dir, "a", "q.onnx"));
        var named = Modelc.Run("compile", "--model", f.ModelPath, "--spec", spec, "--output", Path.Combine(dir, "b", "q.onnx"));
        var both = Modelc.Run("compile", f.ModelPath, "--model", f.ModelPath, "--spec", spec, "--output", Path.Combine(dir, "c", "q.onnx"), "--json");
        Assert.True(positional.ExitCode == 0, positional.ToString());
        Assert.True(named.ExitCode == 0, named.ToString());
        Assert.True(both.ExitCode == 0, both.ToString());
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "a", "q.onnx")), File.ReadAllBytes(Path.Combine(dir, "b", "q.onnx")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "a", "q.onnx")), File.ReadAllBytes(Path.Combine(dir, "c", "q.onnx")));

        // The summary line: plain figures, and the sign of the rounded change (never "-+0.000%").
        var summary = Regex.Match(both.StdErr, @"^modelc: passed: 36/36 layers INT8 \((\d+)% of weights\); perplexity (\d+\.\d{4}) → (\d+\.\d{4}) \(([+-]\d+\.\d{3})%\) on cpu;", RegexOptions.Multiline);
        Assert.True(summary.Success, both.StdErr);
        using var json = JsonDocument.Parse(both.StdOut);
        var cpu = json.RootElement.GetProperty("providers")[0];
        Assert.Equal(Math.Round(cpu.GetProperty("perplexity_increase_pct").GetDouble(), 3), double.Parse(summary.Groups[4].Value, CultureInfo.InvariantCulture), 6);
        Assert.Equal(Math.Round(cpu.GetProperty("fp32_perplexity").GetDouble(), 4), double.Parse(summary.Groups[2].Value, CultureInfo.InvariantCulture), 6);
        Assert.Equal("100", summary.Groups[1].Value);
    }

    [Theory]
    [InlineData("compile")]
    [InlineData("sensitivity")]
    [InlineData("eval")]
    [InlineData("generate")]
    [InlineData("bench")]
    public void Two_different_models_are_MC1013_and_none_is_MC1006_both_exit_2_writing_nothing(string command)
    {
        var spec = Spec("twice-" + command);
        var output = Path.Combine(Path.GetDirectoryName(spec)!, "out", "x.onnx");
        string[] rest = command switch
        {
            "compile" or "sensitivity" => ["--spec", spec, "--output", output],
            "eval" => ["--text", TestPaths.TinyStoriesSample],
            _ => [],
        };
        var twice = Modelc.Run([command, f.ModelPath, "--model", f.File("other.onnx"), .. rest]);
        Assert.True(twice.ExitCode == 2, twice.ToString());
        Assert.Contains("error MC1013", twice.StdErr);
        Assert.Contains("other.onnx", twice.StdErr);

        var none = Modelc.Run([command, .. rest]);
        Assert.True(none.ExitCode == 2, none.ToString());
        Assert.Contains("error MC1006", none.StdErr);
        Assert.Contains("needs a model", none.StdErr);
        Assert.False(Directory.Exists(Path.GetDirectoryName(output)));
    }

    [Fact]
    public void Sensitivity_takes_the_model_positionally()
    {
        var spec = Spec("sens");
        var csv = Path.Combine(Path.GetDirectoryName(spec)!, "layers.csv");
        var r = Modelc.Run("sensitivity", f.ModelPath, "--spec", spec, "--output", csv, "--probe-tokens", "64", "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        using var json = JsonDocument.Parse(r.StdOut);
        Assert.Equal(36, json.RootElement.GetProperty("rows").GetArrayLength());
        Assert.Equal(36, Policies.SensitivityTable.Read(csv).Count);
    }
}

using System.Text.Json;
using ModelCompiler.Tests;

namespace ModelCompiler.Cli.Tests;

/// <summary>
/// Exported third-party decoders through the command line with real text: calibration and evaluation text tokenized by
/// the tokenizer.json beside the model, BOS/EOS/context taken from genai_config.json by eval and generate as by compile
/// (MC1048 when it contradicts the graph), and MC1022 when a tokenizer does not fit the graph's logits.
/// </summary>
public sealed class ThirdPartyTextCommandTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("mc-cli-thirdparty-text");

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string CopyOf(string name, string folder)
    {
        var to = Path.Combine(_dir, folder);
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(Path.Combine(TestPaths.Shared, "models", "thirdparty", name))) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        return to;
    }

    private string TextSpec()
    {
        var calibration = Path.Combine(_dir, "calibration.txt");
        var evaluation = Path.Combine(_dir, "evaluation.txt");
        File.WriteAllText(calibration, File.ReadAllText(TestPaths.TinyStoriesSample));
        File.WriteAllText(evaluation, File.ReadAllText(TestPaths.TinyStoriesValid)[..4000]);
        var spec = Path.Combine(_dir, "text.yaml");
        File.WriteAllText(spec, "calibration:\n  text: calibration.txt\n  context: 32\n  max_tokens: 256\nevaluation:\n  text: evaluation.txt\n  context: 32\n  max_tokens: 256\npolicy:\n  kind: all-int8\n");
        return spec;
    }

    private static int ConfigBos(string folder)
    {
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "genai_config.json")));
        return config.RootElement.GetProperty("model").GetProperty("bos_token_id").GetInt32();
    }

    [Fact]
    public void Genai_llama_compiles_with_text_through_its_tokenizer_json_and_evals_and_generates_from_the_configured_bos()
    {
        var input = CopyOf("genai-tiny-random-llama-fp16", "in");
        var model = Path.Combine(input, "model.onnx");
        var output = Path.Combine(_dir, "out", "model.int8.onnx");

        var compile = Modelc.Run("compile", "--model", model, "--spec", TextSpec(), "--output", output);
        Assert.True(compile.ExitCode == 0, compile.ToString());
        Assert.Contains("15/15 layers INT8", compile.StdErr);

        var bos = ConfigBos(input);
        var evaluation = Path.Combine(_dir, "evaluation.txt");
        var tokens = new List<int>();
        foreach (var m in new[] { model, output })
        {
            // No --tokenizer: the input's tokenizer.json in its folder, the output's copy beside it.
            var eval = Modelc.Run("eval", m, "--text", evaluation, "--context", "32", "--max-tokens", "128", "--json");
            Assert.True(eval.ExitCode == 0, eval.ToString());
            using var e = JsonDocument.Parse(eval.StdOut);
            Assert.True(double.IsFinite(e.RootElement.GetProperty("perplexity").GetDouble()), eval.ToString());
            tokens.Add(e.RootElement.GetProperty("tokens").GetInt32());

            // The input reads genai_config.json beside it, the output its compile's manifest: both start from its BOS.
            var generate = Modelc.Run("generate", m, "--max-tokens", "4", "--json");
            Assert.True(generate.ExitCode == 0, generate.ToString());
            using var g = JsonDocument.Parse(generate.StdOut);
            Assert.Equal([bos], g.RootElement.GetProperty("prompt_ids").EnumerateArray().Select(i => i.GetInt32()));
            Assert.Equal(4, g.RootElement.GetProperty("ids").GetArrayLength());
        }

        Assert.Equal(tokens[0], tokens[1]); // the same tokenizer on both sides
    }

    [Fact]
    public void Eval_and_generate_refuse_a_contradicting_genai_config_and_keep_to_its_context_length()
    {
        var input = CopyOf("genai-tiny-random-llama-fp16", "in");
        var model = Path.Combine(input, "model.onnx");
        var configPath = Path.Combine(input, "genai_config.json");
        var original = File.ReadAllText(configPath);
        var text = Path.Combine(_dir, "text.txt");
        File.WriteAllText(text, "Once upon a time there was a little robot who liked to read books about the sea and the sky.\n");

        File.WriteAllText(configPath, original.Replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3", StringComparison.Ordinal));
        foreach (var run in new[] { Modelc.Run("eval", model, "--text", text, "--context", "8"), Modelc.Run("generate", model, "--max-tokens", "2") })
        {
            Assert.True(run.ExitCode == 2, run.ToString());
            Assert.Contains("MC1048", run.StdErr);
            Assert.Contains("genai_config.json", run.StdErr);
        }

        File.WriteAllText(configPath, original.Replace("\"context_length\": 2048", "\"context_length\": 6", StringComparison.Ordinal));
        var tooLong = Modelc.Run("eval", model, "--text", text, "--context", "8");
        Assert.True(tooLong.ExitCode == 2, tooLong.ToString());
        Assert.Contains("maximum sequence length 6", tooLong.StdErr);
        var generate = Modelc.Run("generate", model, "--max-tokens", "20", "--json");
        Assert.True(generate.ExitCode == 0, generate.ToString());
        using var g = JsonDocument.Parse(generate.StdOut);
        Assert.Equal("max_positions", g.RootElement.GetProperty("stop").GetString());
        Assert.Equal(6, g.RootElement.GetProperty("ids").GetArrayLength()); // BOS + 5 fed ids fill the 6 positions; their logits give 6 ids
    }

    [Fact]
    public void Gpt2_tiny_graphs_take_only_a_tokenizer_of_their_1000_wide_logits()
    {
        // fp32: its folder's tokenizer.json is GPT-2's full 50257-token one, the logits are 1000 wide.
        var fp32 = CopyOf("ort-tiny-random-gpt2-fp32", "gpt2-fp32");
        var compile = Modelc.Run("compile", "--model", Path.Combine(fp32, "past.onnx"), "--spec", TextSpec(), "--output", Path.Combine(_dir, "o32", "m.onnx"));
        Assert.True(compile.ExitCode == 2, compile.ToString());
        Assert.Contains("MC1022", compile.StdErr);

        // fp16: its own tokenizer.json has 1000 tokens and fits; GPT-2's full one, passed explicitly, does not.
        var fp16 = CopyOf("ort-tiny-random-gpt2-fp16", "gpt2-fp16");
        var model = Path.Combine(fp16, "past.onnx");
        var evaluation = Path.Combine(_dir, "evaluation.txt");
        var own = Modelc.Run("eval", model, "--text", evaluation, "--tokenizer", Path.Combine(fp16, "tokenizer.json"), "--context", "32", "--max-tokens", "64");
        Assert.True(own.ExitCode == 0, own.ToString());
        var full = Modelc.Run("eval", model, "--text", evaluation, "--tokenizer", Path.Combine(fp32, "tokenizer.json"), "--context", "32", "--max-tokens", "64");
        Assert.True(full.ExitCode == 2, full.ToString());
        Assert.Contains("MC1022", full.StdErr);
        var generate = Modelc.Run("generate", model, "--tokenizer", Path.Combine(fp32, "tokenizer.json"), "--max-tokens", "2");
        Assert.True(generate.ExitCode == 2, generate.ToString());
        Assert.Contains("MC1022", generate.StdErr);
    }
}

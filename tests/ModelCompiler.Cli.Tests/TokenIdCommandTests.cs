using System.Text.Json;
using ModelCompiler.Tests;

namespace ModelCompiler.Cli.Tests;

/// <summary>
/// <c>eval --ids</c> and <c>generate --json</c> / <c>--prompt-ids</c>: decoders without a usable tokenizer (LFM2 has
/// none, GPT-2 fp32's does not fit its logits) evaluated and run on token ids; with a tokenizer, <c>tokenize --json</c>
/// then <c>eval --ids</c> gives exactly the perplexity of <c>eval --text</c>.
/// </summary>
[Collection(ModelcCollection.Name)]
public sealed class TokenIdCommandTests(ModelcFixture fixture) : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("mc-cli-ids");

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string CopyOf(string name)
    {
        var to = Path.Combine(_dir, name);
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(Path.Combine(TestPaths.Shared, "models", "thirdparty", name))) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        return to;
    }

    private string Text()
    {
        var path = Path.Combine(_dir, "text.txt");
        File.WriteAllText(path, File.ReadAllText(TestPaths.TinyStoriesValid)[..3000]);
        return path;
    }

    private string Write(string name, string content)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, content);
        return path;
    }

    private static JsonElement Json(ModelcResult run)
    {
        Assert.True(run.ExitCode == 0, run.ToString());
        using var doc = JsonDocument.Parse(run.StdOut);
        return doc.RootElement.Clone();
    }

    /// <summary>eval --text and eval --ids on the ids tokenize --json printed: the same stream, so the same numbers.</summary>
    private void AssertIdsEqualText(string model, string tokenizer)
    {
        var text = Text();
        var tokenized = Modelc.Run("tokenize", "--tokenizer", tokenizer, "--text", text, "--json");
        Assert.True(tokenized.ExitCode == 0, tokenized.ToString());
        var ids = Write("ids.json", tokenized.StdOut);
        Assert.True(JsonDocument.Parse(tokenized.StdOut).RootElement.GetProperty("documents").GetArrayLength() > 1); // BOS before each of several

        var fromText = Json(Modelc.Run("eval", model, "--text", text, "--context", "64", "--max-tokens", "300", "--json"));
        var fromIds = Json(Modelc.Run("eval", model, "--ids", ids, "--context", "64", "--max-tokens", "300", "--json"));
        Assert.Equal(fromText.GetProperty("tokens").GetInt32(), fromIds.GetProperty("tokens").GetInt32());
        Assert.Equal(fromText.GetProperty("windows").GetInt32(), fromIds.GetProperty("windows").GetInt32());
        Assert.Equal(fromText.GetProperty("nll").GetDouble(), fromIds.GetProperty("nll").GetDouble());
        Assert.Equal(fromText.GetProperty("perplexity").GetDouble(), fromIds.GetProperty("perplexity").GetDouble());
        Assert.Equal(Path.GetFullPath(ids), fromIds.GetProperty("ids").GetString());
    }

    [Fact]
    public void Tokenize_then_eval_ids_equals_eval_text_on_stories260K()
    {
        Assert.True(fixture.Import.ExitCode == 0, fixture.Import.ToString());
        AssertIdsEqualText(fixture.ModelPath, TestPaths.Tokenizer);
    }

    [Fact]
    public void Tokenize_then_eval_ids_equals_eval_text_on_the_genai_llama_with_its_tokenizer_json()
    {
        var folder = CopyOf("genai-tiny-random-llama-fp16");
        AssertIdsEqualText(Path.Combine(folder, "model.onnx"), Path.Combine(folder, "tokenizer.json"));
    }

    [Theory]
    [InlineData("genai-dummy-lfm2", "decoder.onnx")]
    [InlineData("ort-tiny-random-gpt2-fp32", "past.onnx")]
    public void Decoders_without_a_usable_tokenizer_eval_and_generate_on_ids_before_and_after_a_data_free_int8_compile(string name, string file)
    {
        var folder = CopyOf(name);
        var input = Path.Combine(folder, file);
        var output = Path.Combine(_dir, "out", "model.int8.onnx");
        var spec = Write("int8.yaml", "calibration:\n  generated: { tokens: 32, seed: 1 }\n  context: 16\nevaluation:\n  generated: { tokens: 32, seed: 2 }\n  context: 16\npolicy:\n  kind: all-int8\n");
        var compile = Modelc.Run("compile", "--model", input, "--spec", spec, "--output", output);
        Assert.True(compile.ExitCode == 0, compile.ToString());

        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "genai_config.json")));
        var bos = config.RootElement.GetProperty("model").GetProperty("bos_token_id").GetInt32();
        var vocab = config.RootElement.GetProperty("model").GetProperty("vocab_size").GetInt32();
        // Two documents of ids spread over the vocabulary, the last one at its top.
        var ids = Write("ids.json", JsonSerializer.Serialize(new
        {
            documents = new[] { new { ids = Enumerable.Range(0, 40).Select(i => i * 7 % vocab).ToArray() }, new { ids = new[] { 3, 5, vocab - 1 } } },
        }));

        var perplexities = new List<double>();
        foreach (var m in new[] { input, output })
        {
            var eval = Json(Modelc.Run("eval", m, "--ids", ids, "--context", "16", "--json"));
            Assert.Equal(40 + 3 + 2 - 3, eval.GetProperty("tokens").GetInt32()); // 45 tokens (BOS per document): windows 16+16+13, one context token each
            var ppl = eval.GetProperty("perplexity").GetDouble();
            Assert.True(double.IsFinite(ppl) && ppl > 1, eval.ToString());
            perplexities.Add(ppl);

            var generate = Json(Modelc.Run("generate", m, "--json", "--max-tokens", "3", "--prompt-ids", "4,9"));
            Assert.Equal([bos, 4, 9], generate.GetProperty("prompt_ids").EnumerateArray().Select(i => i.GetInt32()));
            Assert.Equal(3, generate.GetProperty("ids").GetArrayLength());
            Assert.All(generate.GetProperty("ids").EnumerateArray(), i => Assert.InRange(i.GetInt32(), 0, vocab - 1));
            Assert.Equal(JsonValueKind.Null, generate.GetProperty("text").ValueKind);

            var fromBos = Json(Modelc.Run("generate", m, "--json", "--max-tokens", "2"));
            Assert.Equal([bos], fromBos.GetProperty("prompt_ids").EnumerateArray().Select(i => i.GetInt32()));

            // Text out needs a tokenizer: the error says what to use instead.
            var plain = Modelc.Run("generate", m, "--max-tokens", "2");
            Assert.True(plain.ExitCode == 2, plain.ToString());
            Assert.Matches("MC1020|MC1022", plain.StdErr);
            Assert.Contains("--prompt-ids", plain.StdErr);
        }
        // int8 weights change the logits: the two numbers come from two different graphs.
        Assert.NotEqual(perplexities[0], perplexities[1]);
    }

    [Fact]
    public void Bad_id_files_and_options_exit_2_with_their_codes()
    {
        var folder = CopyOf("genai-dummy-lfm2");
        var model = Path.Combine(folder, "decoder.onnx");
        var text = Text();
        var good = Write("good.json", "{\"documents\": [{\"ids\": [1, 2, 3]}]}");

        void Fails(string code, params string[] args)
        {
            var run = Modelc.Run(args);
            Assert.True(run.ExitCode == 2, run.ToString());
            Assert.Contains(code, run.StdErr);
        }

        Fails("MC1006", "eval", model, "--text", text, "--ids", good);
        Fails("MC1006", "eval", model);
        Fails("MC1035", "eval", model, "--ids", Write("broken.json", "{\"documents\": [{\"ids\": [1, 2"));
        Fails("MC1035", "eval", model, "--ids", Write("shape.json", "[[1, 2, 3]]"));
        Fails("MC1035", "eval", model, "--ids", Write("noids.json", "{\"documents\": [{\"tokens\": [1, 2]}]}"));
        Fails("MC1035", "eval", model, "--ids", Write("float.json", "{\"documents\": [{\"ids\": [1, 2.5]}]}"));
        Fails("MC1035", "eval", model, "--ids", Write("vocab.json", "{\"documents\": [{\"ids\": [1, 1000]}]}"));
        Fails("MC1035", "eval", model, "--ids", Write("negative.json", "{\"documents\": [{\"ids\": [-1, 2]}]}"));
        Fails("MC1032", "eval", model, "--ids", Write("empty.json", "{\"documents\": []}"));
        Fails("MC1030", "eval", model, "--ids", Path.Combine(_dir, "missing.json"));
        Fails("MC1006", "generate", model, "--json", "--prompt-ids", "1,x");
        Fails("MC1006", "generate", model, "--json", "--prompt-ids", "1000");
        Fails("MC1020", "generate", model, "--json", "--prompt", "Once");

        // Without genai_config.json nothing knows LFM2's BOS.
        File.Delete(Path.Combine(folder, "genai_config.json"));
        Fails("MC1034", "eval", model, "--ids", good);
        Fails("MC1025", "generate", model, "--json");
    }
}

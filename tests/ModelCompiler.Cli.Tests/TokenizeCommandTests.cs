using System.Text.Json;
using ModelCompiler.Tests;

namespace ModelCompiler.Cli.Tests;

/// <summary><c>modelc tokenize</c> prints Hugging Face's own ids (../shared/tokenizers) and codes for bad input.</summary>
public sealed class TokenizeCommandTests
{
    private static string Thirdparty(string model, string file) => Path.Combine(TestPaths.Shared, "models", "thirdparty", model, file);

    [Theory]
    [InlineData("genai-tiny-random-llama-fp16")]
    [InlineData("ort-tiny-random-gpt2-fp32")]
    public void Json_ids_equal_hugging_face_reference(string model)
    {
        var text = Path.Combine(TestPaths.Shared, "corpora", "unicode_sample.txt");
        var r = Modelc.Run("tokenize", "--tokenizer", Thirdparty(model, "tokenizer.json"), "--text", text, "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        using var actual = JsonDocument.Parse(r.StdOut);
        using var expected = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TestPaths.Shared, "tokenizers", $"{model}.unicode_sample.json")));
        var want = expected.RootElement.GetProperty("documents").EnumerateArray().Select(d => d.GetProperty("ids").GetRawText()).ToList();
        var got = actual.RootElement.GetProperty("documents").EnumerateArray().Select(d => d.GetProperty("ids").GetRawText()).ToList();
        Assert.Equal(want, got);
    }

    [Fact]
    public void Plain_output_is_one_line_of_ids_per_document()
    {
        var text = Path.Combine(TestPaths.Shared, "corpora", "tinystories_sample.txt");
        var r = Modelc.Run("tokenize", "--tokenizer", Thirdparty("ort-tiny-random-gpt2-fp32", "tokenizer.json"), "--text", text);
        Assert.True(r.ExitCode == 0, r.ToString());
        using var expected = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TestPaths.Shared, "tokenizers", "ort-tiny-random-gpt2-fp32.tinystories_sample.json")));
        var want = expected.RootElement.GetProperty("documents").EnumerateArray()
            .Select(d => string.Join(' ', d.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()))).ToList();
        Assert.Equal(want, r.StdOut.TrimEnd('\n').Split('\n'));
    }

    [Fact]
    public void Bad_tokenizer_json_exits_2_with_code()
    {
        var dir = TestPaths.NewTempDir("mc-tokcli");
        try
        {
            var bad = Path.Combine(dir, "tokenizer.json");
            File.WriteAllText(bad, "{\"model\": {\"type\": \"BPE\", \"vocab\": 3}}");
            var r = Modelc.Run("tokenize", "--tokenizer", bad, "--text", Path.Combine(TestPaths.Shared, "corpora", "tinystories_sample.txt"));
            Assert.Equal(2, r.ExitCode);
            Assert.Contains("error MC1021", r.StdErr);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}

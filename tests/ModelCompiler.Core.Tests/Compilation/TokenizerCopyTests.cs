using System.Text.Json;
using ModelCompiler.Calibration;
using ModelCompiler.Compilation;
using ModelCompiler.Import;
using ModelCompiler.Onnx;
using ModelCompiler.Runtime;
using ModelCompiler.Tests;
using ModelCompiler.Tests.Tokenization;
using ModelCompiler.Tokenization;

namespace ModelCompiler.Core.Tests.Compilation;

/// <summary>
/// The compile's tokenizer copy keeps its format's name (<c>&lt;out&gt;.tokenizer.json</c>, <c>.tokenizer.model</c>,
/// <c>.tokenizer.bin</c>); the manifest and the model's metadata name it, eval/generate find it beside the output, and
/// a copy in another format from an earlier compile of the same output is removed.
/// </summary>
public sealed class TokenizerCopyTests : IDisposable
{
    private const string Llama = "genai-tiny-random-llama-fp16";
    private readonly string _dir = TestPaths.NewTempDir("mc-tokcopy");

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string Spec()
    {
        var spec = Path.Combine(_dir, "spec.yaml");
        File.WriteAllText(spec, """
            target: cpu
            calibration:
              generated: { tokens: 32, seed: 1 }
              context: 16
            evaluation:
              generated: { tokens: 32, seed: 2 }
              context: 16
            policy:
              kind: all-int8
            """);
        return spec;
    }

    /// <summary>The GenAI LLaMA with only <paramref name="tokenizerName"/> beside it (tokenizer.json, or a tokenizer.model written from it).</summary>
    private string GenAiModel(string folder, string tokenizerName)
    {
        var target = Path.Combine(_dir, folder);
        Directory.CreateDirectory(target);
        var shared = Path.Combine(TestPaths.Shared, "models", "thirdparty", Llama);
        foreach (var f in new[] { "model.onnx", "model.onnx.data", "genai_config.json" })
            File.Copy(Path.Combine(shared, f), Path.Combine(target, f));
        var tokenizer = Path.Combine(target, tokenizerName);
        if (tokenizerName == "tokenizer.json") File.Copy(HuggingFaceTokenizerTests.TokenizerJson(Llama), tokenizer);
        else File.WriteAllBytes(tokenizer, SentencePieceModelTests.ModelFromTokenizerJson(HuggingFaceTokenizerTests.TokenizerJson(Llama)));
        return Path.Combine(target, "model.onnx");
    }

    private static string? ManifestTokenizer(CompileResult r)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(r.Options.ResolvedManifestPath));
        return doc.RootElement.GetProperty("model").GetProperty("tokenizer").GetString();
    }

    private static string? MetadataTokenizer(string model) =>
        OnnxModelIO.Load(model).MetadataProps.SingleOrDefault(m => m.Key == Llama2cImporter.MetadataKeys.Tokenizer)?.Value;

    private static string[] Beside(string output) =>
        Directory.GetFiles(Path.GetDirectoryName(output)!, Path.GetFileNameWithoutExtension(output) + ".tokenizer.*").Select(Path.GetFileName).Order().ToArray()!;

    /// <summary>The tokenizer eval and generate load for the output (no --tokenizer), and its ids against the original's.</summary>
    private static ITokenizer AssertFoundBeside(string output, string original)
    {
        using var session = new DecoderSession(output, Deterministic.SessionOptions());
        var tokenizer = ModelTokenizer.Load(session, null);
        var text = File.ReadAllText(Path.Combine(TestPaths.Shared, "corpora", "unicode_sample.txt"));
        Assert.Equal(TokenizerLoader.Load(original).Encode(text).ToArray(), tokenizer.Encode(text).ToArray());
        return tokenizer;
    }

    [Fact]
    public void A_tokenizer_json_then_a_sentencepiece_model_are_copied_under_their_own_names()
    {
        var output = Path.Combine(_dir, "out", "model.q.onnx");
        Directory.CreateDirectory(Path.GetDirectoryName(output)!);
        File.WriteAllText(Path.Combine(_dir, "out", "model.q.tokenizer.bin"), "a copy an older compile wrote");

        var json = GenAiModel("json", "tokenizer.json");
        var r = QuantizationCompiler.Compile(new CompileOptions(json, Spec(), output), new CompileFixture.SilentReporter());
        Assert.True(r.Passed);
        Assert.Equal(["model.q.tokenizer.json"], Beside(output));
        Assert.Equal(File.ReadAllBytes(Path.Combine(_dir, "json", "tokenizer.json")), File.ReadAllBytes(Path.Combine(_dir, "out", "model.q.tokenizer.json")));
        Assert.Equal("model.q.tokenizer.json", ManifestTokenizer(r));
        Assert.Equal("model.q.tokenizer.json", MetadataTokenizer(output));
        Assert.IsType<HuggingFaceTokenizer>(AssertFoundBeside(output, Path.Combine(_dir, "json", "tokenizer.json")));

        // The same output from the model with a SentencePiece tokenizer: the .json copy goes.
        var spm = GenAiModel("spm", "tokenizer.model");
        r = QuantizationCompiler.Compile(new CompileOptions(spm, Spec(), output), new CompileFixture.SilentReporter());
        Assert.True(r.Passed);
        Assert.Equal(["model.q.tokenizer.model"], Beside(output));
        Assert.Equal("model.q.tokenizer.model", ManifestTokenizer(r));
        Assert.Equal("model.q.tokenizer.model", MetadataTokenizer(output));
        Assert.IsType<SentencePieceModelTokenizer>(AssertFoundBeside(output, Path.Combine(_dir, "spm", "tokenizer.model")));
    }

    [Fact]
    public void A_llama2c_tokenizer_stays_tokenizer_bin_with_the_same_bytes()
    {
        var model = Path.Combine(_dir, "stories260K.onnx");
        Llama2cImporter.Import(TestPaths.Checkpoint, TestPaths.Tokenizer, model);
        var output = Path.Combine(_dir, "out", "stories260K.q.onnx");
        var r = QuantizationCompiler.Compile(new CompileOptions(model, Spec(), output), new CompileFixture.SilentReporter());
        Assert.True(r.Passed);
        Assert.Equal(["stories260K.q.tokenizer.bin"], Beside(output));
        Assert.Equal(File.ReadAllBytes(TestPaths.Tokenizer), File.ReadAllBytes(Path.Combine(_dir, "out", "stories260K.q.tokenizer.bin")));
        Assert.Equal("stories260K.q.tokenizer.bin", ManifestTokenizer(r));
        Assert.IsType<Llama2cTokenizer>(AssertFoundBeside(output, model[..^".onnx".Length] + ".tokenizer.bin"));
    }

    [Fact]
    public void The_copy_suffix_follows_the_format_not_the_file_name()
    {
        Assert.Equal(".tokenizer.bin", TokenizerLoader.CopySuffix(TestPaths.Tokenizer));
        Assert.Equal(".tokenizer.json", TokenizerLoader.CopySuffix(HuggingFaceTokenizerTests.TokenizerJson(Llama)));
        var spm = Path.Combine(_dir, "tokenizer.model");
        File.WriteAllBytes(spm, SentencePieceModelTests.ModelFromTokenizerJson(HuggingFaceTokenizerTests.TokenizerJson(Llama)));
        Assert.Equal(".tokenizer.model", TokenizerLoader.CopySuffix(spm));
        // Copies an older compile named .tokenizer.bin are looked into: recompiling from them gives the right name.
        var oldJson = Path.Combine(_dir, "old.q.tokenizer.bin");
        File.Copy(HuggingFaceTokenizerTests.TokenizerJson(Llama), oldJson);
        Assert.Equal(".tokenizer.json", TokenizerLoader.CopySuffix(oldJson));
        var oldSpm = Path.Combine(_dir, "old2.q.tokenizer.bin");
        File.Copy(spm, oldSpm);
        Assert.Equal(".tokenizer.model", TokenizerLoader.CopySuffix(oldSpm));
    }
}

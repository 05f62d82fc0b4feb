using System.Text.Json;
using ModelCompiler.Evaluation;
using ModelCompiler.Tokenization;

namespace ModelCompiler.Tests.Tokenization;

/// <summary>
/// tokenizer.json tokenizers give exactly the ids Hugging Face's own library gives (reference files in
/// ../shared/tokenizers, made by tools/hf_tokenize.js), decode back to the text, and reject bad files with codes.
/// </summary>
public sealed class HuggingFaceTokenizerTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("mc-hftok");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static string TokenizerJson(string model) => Path.Combine(TestPaths.Shared, "models", "thirdparty", model, "tokenizer.json");

    public static TheoryData<string, string> Cases => new()
    {
        { "ort-tiny-random-gpt2-fp32", "tinystories_sample" },
        { "ort-tiny-random-gpt2-fp32", "unicode_sample" },
        { "genai-tiny-random-llama-fp16", "tinystories_sample" },
        { "genai-tiny-random-llama-fp16", "unicode_sample" },
    };

    public static List<int[]> ReferenceIds(string model, string text)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TestPaths.Shared, "tokenizers", $"{model}.{text}.json")));
        return doc.RootElement.GetProperty("documents").EnumerateArray()
            .Select(d => d.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()).ToArray()).ToList();
    }

    [Theory, MemberData(nameof(Cases))]
    public void Ids_equal_hugging_face_reference_and_decode_round_trips(string model, string text)
    {
        var tokenizer = TokenizerLoader.Load(TokenizerJson(model));
        var documents = TextCorpus.SplitDocuments(File.ReadAllText(Path.Combine(TestPaths.Shared, "corpora", text + ".txt")));
        var expected = ReferenceIds(model, text);
        Assert.Equal(expected.Count, documents.Count);
        for (int d = 0; d < documents.Count; d++)
        {
            var ids = tokenizer.Encode(documents[d]).ToArray();
            Assert.Equal(expected[d], ids);
            Assert.All(ids, id => Assert.InRange(id, 0, tokenizer.VocabularySize - 1));
            Assert.Equal(documents[d], tokenizer.Decode(ids));
        }
    }

    [Fact]
    public void Streaming_bytes_equal_whole_decode()
    {
        var tokenizer = TokenizerLoader.Load(TokenizerJson("genai-tiny-random-llama-fp16"));
        const string text = "Hello wörld, 你好 🙂  done";
        var ids = tokenizer.Encode(text).ToArray();
        var decoder = new List<byte>();
        for (int i = 0; i < ids.Length; i++) decoder.AddRange(tokenizer.DecodeTokenBytes(i == 0 ? -1 : ids[i - 1], ids[i]).ToArray());
        Assert.Equal(text, System.Text.Encoding.UTF8.GetString(decoder.ToArray()));
        Assert.Equal(1, tokenizer.BosId);
        Assert.Equal(2, tokenizer.EosId);
        Assert.Empty(tokenizer.Encode(""));
    }

    [Fact]
    public void Gpt2_special_ids_come_from_added_tokens()
    {
        var tokenizer = TokenizerLoader.Load(TokenizerJson("ort-tiny-random-gpt2-fp32"));
        Assert.Equal(50256, tokenizer.EosId);
        Assert.Equal(50256, tokenizer.BosId);
        Assert.Equal([50256], tokenizer.Encode("<|endoftext|>"));
    }

    [Fact]
    public void Model_folder_finds_tokenizer_json()
    {
        var tokenizer = TokenizerLoader.Load(Path.GetDirectoryName(TokenizerJson("ort-tiny-random-gpt2-fp32"))!);
        Assert.EndsWith("tokenizer.json", tokenizer.SourcePath);
    }

    [Fact]
    public void Tokenizer_json_beside_the_model_is_found()
    {
        var model = Path.Combine(TestPaths.Shared, "models", "thirdparty", "ort-tiny-random-gpt2-fp32", "past.onnx");
        Assert.Equal(TokenizerJson("ort-tiny-random-gpt2-fp32"), ModelCompiler.Runtime.ModelTokenizer.FindBeside(model, null));
        Assert.Null(ModelCompiler.Runtime.ModelTokenizer.FindBeside(Path.Combine(_dir, "none.onnx"), null));
    }

    private string SentencePieceStyle(string vocab, string merges)
    {
        var path = Path.Combine(_dir, "sp.tokenizer.json");
        File.WriteAllText(path, "{\"model\": {\"type\": \"BPE\", \"vocab\": {" + vocab + "}, \"merges\": [" + merges + "]},"
            + " \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\", \"prepend\": \"\u2581\"},"
            + " {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"\u2581\"}]}}");
        return path;
    }

    /// <summary>
    /// Long texts are merged word by word, cut before each "▁" that follows another character, only because no
    /// LLaMA-style token has such a "▁" inside. A vocabulary where a merge does cross one ("a▁") must be merged as one
    /// word, as Hugging Face does: "a b" → ▁ a ▁ b → ▁ [a▁] b → [▁a▁] b, not ▁a | ▁b.
    /// </summary>
    [Fact]
    public void A_merge_across_a_space_mark_is_kept_when_the_vocabulary_has_one()
    {
        var crossing = TokenizerLoader.Load(SentencePieceStyle(
            "\"\u2581\": 0, \"a\": 1, \"b\": 2, \"a\u2581\": 3, \"\u2581a\u2581\": 4, \"\u2581a\": 5, \"\u2581b\": 6",
            "\"a \u2581\", \"\u2581 a\u2581\", \"\u2581 a\", \"\u2581 b\""));
        Assert.Equal([4, 2], crossing.Encode("a b"));
        Assert.Equal([4, 6], crossing.Encode("a  b")); // ▁a▁ then ▁b

        var wordwise = TokenizerLoader.Load(SentencePieceStyle(
            "\"\u2581\": 0, \"a\": 1, \"b\": 2, \"\u2581a\": 3, \"\u2581b\": 4, \"\u2581\u2581\": 5",
            "\"\u2581 a\", \"\u2581 b\", \"\u2581 \u2581\""));
        Assert.Equal([3, 4], wordwise.Encode("a b"));
        Assert.Equal([3, 0, 4], wordwise.Encode("a  b")); // ▁a | ▁ ▁ b: "▁ b" outranks "▁ ▁", so ▁ ▁b
    }

    public static TheoryData<string, string> BadFiles => new()
    {
        { "{not json", TokenizationErrors.TokenizerCorrupt },
        { "[]", TokenizationErrors.TokenizerCorrupt },
        { "{\"model\": {\"type\": \"BPE\"}}", TokenizationErrors.TokenizerCorrupt },
        { "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 2}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", TokenizationErrors.TokenizerCorrupt },
        { "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": \"x\"}, \"merges\": []}}", TokenizationErrors.TokenizerCorrupt },
        { "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}", TokenizationErrors.TokenizerFormatNotSupported },
        { "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"Whitespace\"}}", TokenizationErrors.TokenizerFormatNotSupported },
    };

    [Theory, MemberData(nameof(BadFiles))]
    public void Bad_tokenizer_json_gives_coded_error(string content, string code)
    {
        var path = Path.Combine(_dir, "tokenizer.json");
        File.WriteAllText(path, content);
        var e = Assert.Throws<ModelCompilerException>(() => TokenizerLoader.Load(path));
        Assert.Equal(code, e.Code);
        Assert.Equal(path, e.File);
    }
}

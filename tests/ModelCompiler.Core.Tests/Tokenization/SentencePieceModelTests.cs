using System.Text.Json;
using Google.Protobuf;
using ModelCompiler.Evaluation;
using ModelCompiler.Tokenization;

namespace ModelCompiler.Tests.Tokenization;

/// <summary>
/// SentencePiece <c>tokenizer.model</c>: ../shared has none, so each test writes one (protobuf, the fields of
/// sentencepiece_model.proto it needs) from the LLaMA <c>tokenizer.json</c>: vocabulary, scores from the merge ranks,
/// byte pieces, and LLaMA's normalizer settings. Its ids must equal Hugging Face's reference ids for that tokenizer.
/// </summary>
public sealed class SentencePieceModelTests : IDisposable
{
    private const string Llama = "genai-tiny-random-llama-fp16";
    private readonly string _dir = TestPaths.NewTempDir("mc-spm");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string WriteModel(string name = "tokenizer.model")
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, ModelFromTokenizerJson(HuggingFaceTokenizerTests.TokenizerJson(Llama)));
        return path;
    }

    [Theory]
    [InlineData("tinystories_sample")]
    [InlineData("unicode_sample")]
    public void Ids_equal_hugging_face_reference_and_decode_round_trips(string text)
    {
        var tokenizer = TokenizerLoader.Load(WriteModel());
        Assert.IsType<SentencePieceModelTokenizer>(tokenizer);
        Assert.Equal(32000, tokenizer.VocabularySize);
        Assert.Equal(1, tokenizer.BosId);
        Assert.Equal(2, tokenizer.EosId);
        var documents = TextCorpus.SplitDocuments(File.ReadAllText(Path.Combine(TestPaths.Shared, "corpora", text + ".txt")));
        var expected = HuggingFaceTokenizerTests.ReferenceIds(Llama, text);
        Assert.Equal(expected.Count, documents.Count);
        for (int d = 0; d < documents.Count; d++)
        {
            var ids = tokenizer.Encode(documents[d]).ToArray();
            Assert.Equal(expected[d], ids);
            Assert.Equal(documents[d], tokenizer.Decode(ids));
            var streamed = new IncrementalDecoder(tokenizer);
            Assert.Equal(documents[d], string.Concat(ids.Select(streamed.Append)) + streamed.Flush());
        }
    }

    [Fact]
    public void Found_in_a_model_folder_and_recognised_under_the_name_compile_copies_it_to()
    {
        WriteModel();
        Assert.IsType<SentencePieceModelTokenizer>(TokenizerLoader.Load(_dir));
        Assert.Equal(Path.Combine(_dir, "tokenizer.model"), ModelCompiler.Runtime.ModelTokenizer.FindBeside(Path.Combine(_dir, "model.onnx"), null));
        // compiles before the copy kept its format's name wrote any tokenizer as <output>.tokenizer.bin; the loader looks at the bytes.
        var copied = WriteModel("model.q.tokenizer.bin");
        Assert.IsType<SentencePieceModelTokenizer>(TokenizerLoader.Load(copied));
        var json = Path.Combine(_dir, "other.q.tokenizer.bin");
        File.Copy(HuggingFaceTokenizerTests.TokenizerJson(Llama), json);
        Assert.IsType<HuggingFaceTokenizer>(TokenizerLoader.Load(json));
        Assert.IsType<Llama2cTokenizer>(TokenizerLoader.Load(TestPaths.Tokenizer, 512));
    }

    [Fact]
    public void A_file_that_is_no_sentencepiece_model_is_MC1021()
    {
        var path = Path.Combine(_dir, "tokenizer.model");
        File.WriteAllBytes(path, [0x0A, 0x03, 0x0A, 0x01, 0x41, 0xFF, 0xFF]);
        var e = Assert.Throws<ModelCompilerException>(() => TokenizerLoader.Load(path));
        Assert.Equal(TokenizationErrors.TokenizerCorrupt, e.Code);
    }

    /// <summary>sentencepiece_model.proto's ModelProto for a LLaMA-style BPE vocabulary read from tokenizer.json.</summary>
    internal static byte[] ModelFromTokenizerJson(string tokenizerJson)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(tokenizerJson));
        var model = doc.RootElement.GetProperty("model");
        var vocab = model.GetProperty("vocab").EnumerateObject().ToDictionary(p => p.Value.GetInt32(), p => p.Name);
        // SentencePiece BPE merges the pair whose joined piece scores highest; Hugging Face applies merges by rank.
        var score = new Dictionary<string, float>(StringComparer.Ordinal);
        var rank = 0;
        foreach (var m in model.GetProperty("merges").EnumerateArray())
        {
            var merged = m.ValueKind == JsonValueKind.Array ? m[0].GetString() + m[1].GetString() : m.GetString()!.Replace(" ", "");
            score.TryAdd(merged, -rank++);
        }

        byte[] Message(Action<CodedOutputStream> write)
        {
            using var buffer = new MemoryStream();
            var o = new CodedOutputStream(buffer);
            write(o);
            o.Flush();
            return buffer.ToArray();
        }

        void Sub(CodedOutputStream o, int field, byte[] bytes)
        {
            o.WriteTag(field, WireFormat.WireType.LengthDelimited);
            o.WriteBytes(ByteString.CopyFrom(bytes));
        }

        void Varint(CodedOutputStream o, int field, int value)
        {
            o.WriteTag(field, WireFormat.WireType.Varint);
            o.WriteInt32(value);
        }

        void Text(CodedOutputStream o, int field, string value)
        {
            o.WriteTag(field, WireFormat.WireType.LengthDelimited);
            o.WriteString(value);
        }

        return Message(o =>
        {
            for (int id = 0; id < vocab.Count; id++)
            {
                var piece = vocab[id];
                // type: NORMAL 1, UNKNOWN 2, CONTROL 3, BYTE 6
                var type = id == 0 ? 2 : id is 1 or 2 ? 3 : piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) ? 6 : 1;
                Sub(o, 1, Message(p =>
                {
                    Text(p, 1, piece);
                    p.WriteTag(2, WireFormat.WireType.Fixed32);
                    p.WriteFloat(type == 1 ? score.GetValueOrDefault(piece, -1e6f - id) : 0f);
                    Varint(p, 3, type);
                }));
            }

            Sub(o, 2, Message(t => // TrainerSpec
            {
                Varint(t, 3, 2); // model_type: BPE
                Varint(t, 4, vocab.Count);
                Varint(t, 35, 1); // byte_fallback
                Varint(t, 40, 0); // unk_id
                Varint(t, 41, 1); // bos_id
                Varint(t, 42, 2); // eos_id
                Varint(t, 43, -1); // pad_id
                Text(t, 45, "<unk>");
                Text(t, 46, "<s>");
                Text(t, 47, "</s>");
            }));
            Sub(o, 3, Message(n => // NormalizerSpec, as LLaMA's: identity, dummy prefix, spaces kept and escaped
            {
                Text(n, 1, "identity");
                Varint(n, 3, 1); // add_dummy_prefix
                Varint(n, 4, 0); // remove_extra_whitespaces
                Varint(n, 5, 1); // escape_whitespaces
            }));
        });
    }
}

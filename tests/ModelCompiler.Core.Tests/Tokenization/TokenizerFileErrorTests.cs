using ModelCompiler.Tokenization;

namespace ModelCompiler.Tests.Tokenization;

/// <summary>Broken, foreign and missing tokenizer files give a coded error that names the file.</summary>
public sealed class TokenizerFileErrorTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("mc-tok");
    private readonly byte[] _good = File.ReadAllBytes(TestPaths.Tokenizer);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, byte[] bytes)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static ModelCompilerException AssertError(string code, string path, Action load)
    {
        var e = Assert.Throws<ModelCompilerException>(load);
        Assert.Equal(code, e.Code);
        Assert.Equal(Path.GetFullPath(path), e.File);
        Assert.StartsWith($"{Path.GetFullPath(path)}: error {code}: ", e.ToDiagnosticString());
        return e;
    }

    /// <summary>Byte offset just past entry <paramref name="count"/> - 1 of tok512.bin.</summary>
    private int OffsetAfterEntries(int count)
    {
        int offset = 4;
        for (int i = 0; i < count; i++) offset += 8 + BitConverter.ToInt32(_good, offset + 4);
        return offset;
    }

    [Fact]
    public void Missing_file()
    {
        var path = Path.Combine(_dir, "nope.bin");
        AssertError("MC1020", path, () => Llama2cTokenizer.Load(path, 512));
        AssertError("MC1020", path, () => TokenizerLoader.Load(path, 512));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    public void Shorter_than_the_header(int length)
    {
        var path = Write("short.bin", _good[..length]);
        AssertError("MC1021", path, () => Llama2cTokenizer.Load(path));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-7)]
    [InlineData(1 << 20)]
    [InlineData(int.MaxValue)]
    public void Absurd_max_token_length(int maxTokenLength)
    {
        var bytes = (byte[])_good.Clone();
        BitConverter.TryWriteBytes(bytes.AsSpan(0, 4), maxTokenLength);
        var path = Write("maxlen.bin", bytes);
        var e = AssertError("MC1021", path, () => Llama2cTokenizer.Load(path, 512));
        Assert.Contains("max_token_length", e.Message);
    }

    [Fact]
    public void Negative_entry_length()
    {
        var bytes = (byte[])_good.Clone();
        int at = OffsetAfterEntries(100);
        BitConverter.TryWriteBytes(bytes.AsSpan(at + 4, 4), -3);
        var path = Write("neg.bin", bytes);
        var e = AssertError("MC1021", path, () => Llama2cTokenizer.Load(path, 512));
        Assert.Contains("entry 100", e.Message);
        Assert.Contains("negative", e.Message);
    }

    [Fact]
    public void Entry_longer_than_max_token_length()
    {
        var bytes = (byte[])_good.Clone();
        BitConverter.TryWriteBytes(bytes.AsSpan(OffsetAfterEntries(5) + 4, 4), 8);
        var path = Write("long.bin", bytes);
        AssertError("MC1021", path, () => Llama2cTokenizer.Load(path, 512));
    }

    [Fact]
    public void Length_field_running_past_the_end_of_the_file()
    {
        // Cut inside the bytes of entry 400: its length field points past EOF.
        var path = Write("cut-bytes.bin", _good[..(OffsetAfterEntries(400) + 9)]);
        var e = AssertError("MC1021", path, () => Llama2cTokenizer.Load(path, 512));
        Assert.Contains("truncated", e.Message);
        AssertError("MC1021", path, () => Llama2cTokenizer.Load(path));

        // Cut inside the score/length header of entry 400.
        path = Write("cut-header.bin", _good[..(OffsetAfterEntries(400) + 5)]);
        AssertError("MC1021", path, () => Llama2cTokenizer.Load(path, 512));
        AssertError("MC1021", path, () => Llama2cTokenizer.Load(path));
    }

    [Fact]
    public void Fewer_entries_than_the_model_vocabulary()
    {
        var path = Write("short-vocab.bin", _good[..OffsetAfterEntries(400)]);
        var e = AssertError("MC1022", path, () => Llama2cTokenizer.Load(path, 512));
        Assert.Contains("400", e.Message);
        Assert.Contains("512", e.Message);
        // Read to EOF, the same file is a valid 400-entry vocabulary.
        Assert.Equal(400, Llama2cTokenizer.Load(path).VocabularySize);
        AssertError("MC1022", TestPaths.Tokenizer, () => Llama2cTokenizer.Load(TestPaths.Tokenizer, 513));
    }

    [Fact]
    public void Too_few_entries_for_the_fixed_llama2c_ids()
    {
        var path = Write("tiny.bin", _good[..OffsetAfterEntries(100)]);
        AssertError("MC1021", path, () => Llama2cTokenizer.Load(path));
        path = Write("header-only.bin", _good[..4]);
        AssertError("MC1021", path, () => Llama2cTokenizer.Load(path));
    }

    [Fact]
    public void Loader_picks_llama2c_for_bin_files()
    {
        var tokenizer = TokenizerLoader.Load(TestPaths.Tokenizer, 512);
        Assert.IsType<Llama2cTokenizer>(tokenizer);
        Assert.Equal([403, 407, 261, 378], tokenizer.Encode("Once upon a time"));
    }

    [Fact]
    public void Loader_rejects_malformed_tokenizer_json_and_sentencepiece_model()
    {
        var json = Write("tokenizer.json", "{\"model\":{\"type\":\"BPE\"}}"u8.ToArray());
        var e = AssertError("MC1021", json, () => TokenizerLoader.Load(json));
        Assert.Contains("tokenizer.json is malformed", e.Message);

        var model = Write("tokenizer.model", [0x0A, 0x00]);
        e = AssertError("MC1021", model, () => TokenizerLoader.Load(model)); // read since SentencePiece support: malformed, not unsupported
        Assert.Contains("SentencePiece", e.Message);

        // A Hugging Face model folder is looked into.
        var folder = Directory.CreateDirectory(Path.Combine(_dir, "hf-model")).FullName;
        var inFolder = Write(Path.Combine("hf-model", "tokenizer.json"), "{}"u8.ToArray());
        AssertError("MC1021", inFolder, () => TokenizerLoader.Load(folder));
        var empty = Directory.CreateDirectory(Path.Combine(_dir, "empty")).FullName;
        AssertError("MC1020", empty, () => TokenizerLoader.Load(empty));
    }

    [Fact]
    public void Loader_rejects_unknown_formats()
    {
        var path = Write("vocab.txt", "hello"u8.ToArray());
        AssertError("MC1024", path, () => TokenizerLoader.Load(path));
    }
}

using System.Diagnostics;
using System.Text;
using ModelCompiler.Evaluation;
using ModelCompiler.Tokenization;
using Xunit.Abstractions;

namespace ModelCompiler.Tests.Tokenization;

/// <summary>The DESIGN.md §5 token stream: documents, BOS per document, windows, predicted-token counts.</summary>
public sealed class TokenStreamTests : IDisposable
{
    private static readonly Lazy<Llama2cTokenizer> Shared = new(() => Llama2cTokenizer.Load(TestPaths.Tokenizer, 512));
    private readonly string _dir = TestPaths.NewTempDir("mc-text");
    private readonly ITestOutputHelper _output;

    public TokenStreamTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Llama2cTokenizer Tok => Shared.Value;

    private string Write(string name, byte[] bytes)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void Tinystories_sample_at_context_256_has_1801_predicted_tokens()
    {
        var stream = TokenStream.Load(TestPaths.TinyStoriesSample, Tok);
        Assert.Equal(5, stream.DocumentCount);
        Assert.Equal(1809, stream.Count);
        Assert.Equal(8, stream.WindowCount(256));
        Assert.Equal(1801, stream.PredictedTokens(256));
        Assert.Equal(1801, stream.Windows(256).Sum(w => w.PredictedTokens));
        Assert.False(stream.Truncated);
        Assert.Equal([1, 403, 407, 261, 378], stream.Span[..5].ToArray());
        Assert.Equal(5, stream.Tokens.Count(t => t == 1));
    }

    [Fact]
    public void Stream_is_BOS_plus_the_encoding_of_each_trimmed_document_from_the_reference_encoder()
    {
        // Independent of the fast encoder: split by hand, encode with the llama2.c transcription.
        var reference = new Llama2cReference(TestPaths.Tokenizer);
        var expected = new List<int>();
        var text = File.ReadAllText(TestPaths.TinyStoriesSample);
        foreach (var doc in text.Split("<|endoftext|>").Select(d => d.Trim()).Where(d => d.Length > 0))
        {
            expected.Add(1);
            expected.AddRange(reference.Encode(doc));
        }
        Assert.Equal(expected, TokenStream.Load(TestPaths.TinyStoriesSample, Tok).Tokens);
    }

    [Fact]
    public void Windows_are_non_overlapping_and_a_last_window_needs_two_tokens()
    {
        var stream = TokenStream.Load(TestPaths.TinyStoriesSample, Tok);
        var windows = stream.Windows(256).ToList();
        Assert.Equal(Enumerable.Range(0, 8).Select(i => i * 256), windows.Select(w => w.Start));
        Assert.All(windows.Take(7), w => Assert.Equal(256, w.Length));
        Assert.Equal(1809 - 7 * 256, windows[^1].Length);
        Assert.Equal(stream.Span[256..512].ToArray(), windows[1].Tokens.ToArray());
        Assert.Equal(Enumerable.Range(0, 8), windows.Select(w => w.Index));

        Assert.Equal(0, TokenStream.CountPredictedTokens(0, 256));
        Assert.Equal(0, TokenStream.CountPredictedTokens(1, 256));
        Assert.Equal(1, TokenStream.CountPredictedTokens(2, 256));
        Assert.Equal(255, TokenStream.CountPredictedTokens(256, 256));
        Assert.Equal(255, TokenStream.CountPredictedTokens(257, 256)); // the lone last token is not scored
        Assert.Equal(256, TokenStream.CountPredictedTokens(258, 256));
        Assert.Equal(1, TokenStream.CountWindows(257, 256));
        Assert.Equal(2, TokenStream.CountWindows(258, 256));
        Assert.Equal(5, TokenStream.CountPredictedTokens(10, 2));
        foreach (var (count, context) in new[] { (1809, 256), (1809, 7), (1, 4), (513, 512), (1000, 2), (17, 1000) })
        {
            var list = Enumerable.Range(0, count).ToArray();
            int predicted = 0, windowCount = 0;
            for (int start = 0; start < count; start += context)
            {
                int len = Math.Min(context, count - start);
                if (len >= 2) { predicted += len - 1; windowCount++; }
            }
            Assert.Equal(predicted, TokenStream.CountPredictedTokens(count, context));
            Assert.Equal(windowCount, TokenStream.CountWindows(count, context));
        }
    }

    [Fact]
    public void Max_tokens_keeps_the_first_n_tokens()
    {
        var full = TokenStream.Load(TestPaths.TinyStoriesSample, Tok);
        var cut = TokenStream.Load(TestPaths.TinyStoriesSample, Tok, maxTokens: 500);
        Assert.Equal(500, cut.Count);
        Assert.True(cut.Truncated);
        Assert.Equal(full.Span[..500].ToArray(), cut.Span.ToArray());
        Assert.Equal(255 + 243, cut.PredictedTokens(256));

        var all = TokenStream.Load(TestPaths.TinyStoriesSample, Tok, maxTokens: 1809);
        Assert.False(all.Truncated);
        Assert.Equal(1809, all.Count);
        var one = TokenStream.Load(TestPaths.TinyStoriesSample, Tok, maxTokens: 1);
        Assert.Equal([1], one.Tokens);
        Assert.Equal(0, one.PredictedTokens(256));
    }

    [Fact]
    public void Settings_out_of_range_are_coded_errors()
    {
        var e = Assert.Throws<ModelCompilerException>(() => TokenStream.Load(TestPaths.TinyStoriesSample, Tok, maxTokens: 0));
        Assert.Equal("MC1033", e.Code);
        var stream = TokenStream.Load(TestPaths.TinyStoriesSample, Tok);
        Assert.Equal("MC1033", Assert.Throws<ModelCompilerException>(() => stream.PredictedTokens(1)).Code);
        Assert.Equal("MC1033", Assert.Throws<ModelCompilerException>(() => stream.Windows(0)).Code);
    }

    [Fact]
    public void Separator_lines_split_documents_only_as_whole_lines()
    {
        var docs = TextCorpus.SplitDocuments("first\r\n  <|endoftext|>  \r\nsecond\n<|endoftext|>\n\n<|endoftext|>\nthird has <|endoftext|> inside\n<|endoftext|>");
        Assert.Equal(["first", "second", "third has <|endoftext|> inside"], docs);
        Assert.Equal(["one document\n\nwith lines"], TextCorpus.SplitDocuments("\n one document\n\nwith lines \n"));
        Assert.Equal(["a"], TextCorpus.SplitDocuments("<|endoftext|>\na"));
    }

    [Fact]
    public void Tinystories_valid_excerpt_splits_on_its_171_separators()
    {
        var corpus = TextCorpus.Load(TestPaths.TinyStoriesValid);
        Assert.InRange(corpus.Documents.Count, 171, 172);
        var stream = TokenStream.Create(corpus, Tok);
        Assert.Equal(corpus.Documents.Count, stream.Tokens.Count(t => t == 1));
        _output.WriteLine($"tinystories_valid_excerpt: {corpus.Documents.Count} documents, {stream.Count} tokens, {stream.PredictedTokens(256)} predicted at 256");
    }

    [Fact]
    public void Moby_dick_is_one_document_and_tokenizes_in_seconds()
    {
        var clock = Stopwatch.StartNew();
        var stream = TokenStream.Load(TestPaths.MobyDick, Tok);
        clock.Stop();
        Assert.Equal(1, stream.DocumentCount);
        Assert.Equal(1, stream.Span[0]);
        Assert.Equal(1, stream.Tokens.Count(t => t == 1));
        _output.WriteLine($"moby-dick: {stream.Count:N0} tokens, {stream.PredictedTokens(256):N0} predicted at 256, loaded in {clock.Elapsed.TotalSeconds:F2} s");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30));

        // A token limit stops early: later documents (here: the rest of the one document) are cut.
        var cut = TokenStream.Load(TestPaths.MobyDick, Tok, maxTokens: 1000);
        Assert.Equal(stream.Span[..1000].ToArray(), cut.Span.ToArray());
    }

    [Fact]
    public void Byte_order_mark_is_skipped()
    {
        var text = File.ReadAllBytes(TestPaths.TinyStoriesSample);
        var path = Write("bom.txt", [0xEF, 0xBB, 0xBF, .. text]);
        Assert.Equal(TokenStream.Load(TestPaths.TinyStoriesSample, Tok).Tokens, TokenStream.Load(path, Tok).Tokens);
    }

    [Fact]
    public void Missing_text_file()
    {
        var path = Path.Combine(_dir, "missing.txt");
        var e = Assert.Throws<ModelCompilerException>(() => TokenStream.Load(path, Tok));
        Assert.Equal("MC1030", e.Code);
        Assert.Equal(path, e.File);
    }

    [Fact]
    public void Text_that_is_not_utf8_names_file_line_and_column()
    {
        var path = Write("latin1.txt", [.. "line one\nna"u8, 0xEF, (byte)'v', .. "e\n"u8]);
        var e = Assert.Throws<ModelCompilerException>(() => TokenStream.Load(path, Tok));
        Assert.Equal("MC1031", e.Code);
        Assert.Equal(path, e.File);
        Assert.Equal(2, e.Line);
        Assert.Equal(3, e.Column);
        Assert.Contains("UTF-8", e.Message);
        _output.WriteLine(e.ToDiagnosticString());

        path = Write("utf16.txt", Encoding.Unicode.GetPreamble().Concat(Encoding.Unicode.GetBytes("héllo")).ToArray());
        Assert.Equal("MC1031", Assert.Throws<ModelCompilerException>(() => TextCorpus.Load(path)).Code);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   \n\t\r\n  ")]
    [InlineData("<|endoftext|>\n\n<|endoftext|>\n")]
    public void Text_without_text_is_a_coded_error(string content)
    {
        var path = Write("empty.txt", Encoding.UTF8.GetBytes(content));
        var e = Assert.Throws<ModelCompilerException>(() => TokenStream.Load(path, Tok));
        Assert.Equal("MC1032", e.Code);
        Assert.Equal(path, e.File);
    }
}

using System.Diagnostics;
using System.Text;
using ModelCompiler.Tokenization;
using Xunit.Abstractions;

namespace ModelCompiler.Tests.Tokenization;

public sealed class Llama2cTokenizerTests
{
    private static readonly Lazy<Llama2cTokenizer> Shared = new(() => Llama2cTokenizer.Load(TestPaths.Tokenizer, 512));
    private static readonly Lazy<Llama2cReference> Reference = new(() => new Llama2cReference(TestPaths.Tokenizer));
    private readonly ITestOutputHelper _output;

    public Llama2cTokenizerTests(ITestOutputHelper output) => _output = output;

    private static Llama2cTokenizer Tok => Shared.Value;

    [Fact]
    public void Loads_tok512_with_the_llama2c_layout()
    {
        Assert.Equal(512, Tok.VocabularySize);
        Assert.Equal(1, Tok.BosId);
        Assert.Equal(2, Tok.EosId);
        Assert.Equal(7, Tok.MaxTokenLength);
        Assert.Equal("llama2.c", Tok.Format);
        Assert.Equal("<unk>", Tok.GetPiece(0));
        Assert.Equal("<0x00>", Tok.GetPiece(3));
        Assert.Equal("<0xFF>", Tok.GetPiece(258));
        Assert.Equal(410, Tok.SpaceId);
        Assert.Equal("sha256:037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312", Tok.Fingerprint);
        Assert.Equal(Path.GetFullPath(TestPaths.Tokenizer), Tok.SourcePath);
    }

    [Fact]
    public void Without_a_vocabulary_size_reads_to_the_end_of_the_file()
    {
        var all = Llama2cTokenizer.Load(TestPaths.Tokenizer);
        Assert.Equal(512, all.VocabularySize);
        Assert.Equal(Tok.Fingerprint, all.Fingerprint);
    }

    [Fact]
    public void With_a_smaller_vocabulary_size_reads_only_that_many_entries_as_llama2c_does()
    {
        var head = Llama2cTokenizer.Load(TestPaths.Tokenizer, 300);
        Assert.Equal(300, head.VocabularySize);
        // " time" (378) is no longer in the vocabulary, so the phrase splits further.
        Assert.DoesNotContain(378, head.Encode("Once upon a time"));
        Assert.All(head.Encode("Once upon a time"), id => Assert.InRange(id, 0, 299));
    }

    [Fact]
    public void Once_upon_a_time_encodes_to_the_known_ids()
    {
        Assert.Equal([403, 407, 261, 378], Tok.Encode("Once upon a time"));
        Assert.Equal([" Once", " upon", " a", " time"], Tok.Encode("Once upon a time").Select(Tok.GetPiece));
        Assert.Equal(Reference.Value.Encode("Once upon a time"), Tok.Encode("Once upon a time"));
        // Text that already starts with a space gets the dummy prefix too: two spaces, then "Once".
        Assert.Equal(Reference.Value.Encode(" Once upon a time"), Tok.Encode(" Once upon a time"));
        Assert.Equal([410, 403, 407, 261, 378], Tok.Encode(" Once upon a time"));
    }

    [Theory]
    [InlineData("alll", new[] { 261, 306, 421 })]                                // " a" "ll" "l", not " a" "l" "ll"
    [InlineData("oooo", new[] { 334, 347, 414 })]                                // " o" "oo" "o"
    [InlineData("Hooo! Wooo!", new[] { 320, 347, 414, 443, 410, 448, 347, 414, 443 })]
    public void Equal_scores_merge_the_leftmost_pair_first(string text, int[] expected)
    {
        // llama2.c keeps the first best pair (strict '>'); expected ids computed by a separate Python transcription.
        Assert.Equal(expected, Tok.Encode(text));
        Assert.Equal(Reference.Value.Encode(text), Tok.Encode(text));
    }

    [Fact]
    public void Empty_string_encodes_to_no_tokens()
    {
        Assert.Empty(Tok.Encode(""));
        Assert.Equal("", Tok.Decode([]));
    }

    [Fact]
    public void Characters_outside_the_vocabulary_fall_back_to_byte_tokens()
    {
        // 日 = E6 97 A5, newline = 0A: not in tok512, so id = byte + 3.
        Assert.Equal([410, 0xE6 + 3, 0x97 + 3, 0xA5 + 3], Tok.Encode("日"));
        Assert.Equal([410, 0x0A + 3], Tok.Encode("\n"));
        // é (C3 A9) is a vocabulary entry of its own.
        Assert.Equal([410, 485], Tok.Encode("é"));
        Assert.Equal(Reference.Value.Encode("a\nb 😀"), Tok.Encode("a\nb 😀"));
        Assert.Contains(0xF0 + 3, Tok.Encode("😀"));
    }

    [Theory]
    [InlineData("Once upon a time, there was a little girl named Lily.")]
    [InlineData("café — naïve 日本")]
    [InlineData("emoji 😀👍🏽 and ZWJ 👩‍👩‍👧 and flags 🇳🇴")]
    [InlineData("  leading spaces and trailing  ")]
    [InlineData("\n\nnew\r\nlines\tand tabs\n")]
    [InlineData(" ")]
    [InlineData("<0x41> is not a byte token in text, <unk> <s> </s> neither")]
    [InlineData("nul \0 inside")]
    [InlineData("“Quotes” – dashes … and ™ € ñ â")]
    public void Decode_inverts_encode(string text)
    {
        var ids = Tok.Encode(text);
        Assert.Equal(text, Tok.Decode(ids.ToArray()));
        Assert.Equal(Reference.Value.Encode(text), ids);
    }

    [Fact]
    public void Decode_drops_the_leading_space_only_at_the_start_and_after_BOS_and_skips_BOS_and_EOS()
    {
        int[] ids = [1, 403, 407, 2, 1, 403, 378];
        Assert.Equal("Once uponOnce time", Tok.Decode(ids));
        Assert.Equal("\u0017 upon time", Tok.Decode([0x17 + 3, 407, 378])); // only the first piece loses its space
        Assert.Equal("upon", Tok.Decode([407]));
        Assert.Equal("\u00e9", Tok.Decode([0xC3 + 3, 0xA9 + 3]));
        Assert.Equal("\uFFFD", Tok.Decode([0xE6 + 3])); // an incomplete character
        Assert.Throws<ArgumentOutOfRangeException>(() => Tok.Decode([512]));
    }

    [Fact]
    public void Incremental_decoding_yields_whole_characters_and_matches_decode()
    {
        var decoder = new IncrementalDecoder(Tok);
        var ids = Tok.Encode("a日b");
        var parts = ids.Select(decoder.Append).ToList();
        parts.Add(decoder.Flush());
        Assert.Equal("a日b", string.Concat(parts));
        Assert.DoesNotContain(parts, p => p.Contains('\uFFFD'));
        Assert.Contains("日", parts);

        var text = File.ReadAllText(TestPaths.TinyStoriesSample)[..1500];
        var stream = Tok.Encode(text);
        var streamed = new StringBuilder();
        foreach (var id in stream) streamed.Append(decoder.Append(id));
        streamed.Append(decoder.Flush());
        Assert.Equal(text, streamed.ToString());
    }

    [Fact]
    public void Matches_the_reference_on_every_line_of_the_tinystories_corpora()
    {
        var lines = File.ReadAllLines(TestPaths.TinyStoriesSample).Concat(File.ReadAllLines(TestPaths.TinyStoriesValid))
            .Where(l => l.Length > 0).ToList();
        Assert.True(lines.Count > 500);
        AssertSameAsReference(lines);
    }

    [Fact]
    public void Matches_the_reference_on_moby_dick_lines_and_paragraphs()
    {
        var lines = File.ReadAllLines(TestPaths.MobyDick);
        var sample = lines.Where((l, i) => l.Length > 0 && (i % 7 == 0 || l.Any(c => c > 127))).ToList();
        var paragraphs = File.ReadAllText(TestPaths.MobyDick).Split("\n\n")
            .Where((p, i) => i % 150 == 0 && p.Length is > 0 and < 2500).ToList();
        Assert.True(sample.Count > 2000);
        Assert.True(paragraphs.Count > 10);
        AssertSameAsReference(sample.Concat(paragraphs));
    }

    [Fact]
    public void Matches_the_reference_on_random_text_built_from_vocabulary_pieces()
    {
        // Pieces glued at random give many competing and tied merges, plus unknown and multi-byte characters.
        var random = new Random(20240611);
        string[] extra = ["日", "😀", "\n", "é", "ß", "—", "  ", "\t", "x", "e", "lll", "oooo", "ee", "sss", "ppp"];
        var texts = new List<string>();
        for (int t = 0; t < 400; t++)
        {
            var sb = new StringBuilder();
            int parts = random.Next(1, 40);
            for (int p = 0; p < parts; p++)
            {
                if (random.Next(4) == 0) { sb.Append(extra[random.Next(extra.Length)]); continue; }
                int id = random.Next(259, 512);
                sb.Append(Tok.GetPiece(id));
            }
            texts.Add(sb.ToString());
        }
        AssertSameAsReference(texts);
    }

    [Fact]
    public void Encodes_all_of_moby_dick_in_seconds()
    {
        var text = File.ReadAllText(TestPaths.MobyDick);
        Tok.Encode(text[..10_000]); // warm-up
        var clock = Stopwatch.StartNew();
        var ids = Tok.Encode(text.Trim());
        clock.Stop();
        _output.WriteLine($"moby-dick: {text.Length:N0} chars -> {ids.Count:N0} tokens in {clock.Elapsed.TotalSeconds:F2} s " +
                          $"({text.Length / clock.Elapsed.TotalSeconds / 1e6:F2} M chars/s)");
        Assert.Equal(text.Trim(), Tok.Decode(ids.ToArray()));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
    }

    private static void AssertSameAsReference(IEnumerable<string> texts)
    {
        int n = 0;
        foreach (var text in texts)
        {
            var expected = Reference.Value.Encode(text);
            var actual = Tok.Encode(text);
            if (!expected.SequenceEqual(actual))
                Assert.Fail($"mismatch on {Quote(text)}:\n expected [{string.Join(",", expected)}]\n actual   [{string.Join(",", actual)}]");
            Assert.Equal(text, Tok.Decode(actual.ToArray()));
            n++;
        }
        Assert.True(n > 0);
    }

    private static string Quote(string s) => "\"" + (s.Length > 200 ? s[..200] + "…" : s).Replace("\n", "\\n") + "\"";
}

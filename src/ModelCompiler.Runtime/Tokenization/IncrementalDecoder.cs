using System.Text;

namespace ModelCompiler.Tokenization;

/// <summary>
/// Decodes a sequence one token at a time, returning only whole characters: a character spread over several
/// byte-fallback tokens appears once its last byte has arrived. The concatenation of everything
/// <see cref="Append"/> and <see cref="Flush"/> return equals <see cref="ITokenizer.Decode"/> of the sequence.
/// </summary>
public sealed class IncrementalDecoder
{
    private readonly ITokenizer _tokenizer;
    private readonly Decoder _utf8 = new UTF8Encoding(false, false).GetDecoder();
    private int _previous = -1;
    private char[] _chars = new char[16];

    /// <summary>A decoder at the start of a sequence of <paramref name="tokenizer"/>'s ids.</summary>
    public IncrementalDecoder(ITokenizer tokenizer)
        : this(tokenizer, -1)
    {
    }

    /// <summary>
    /// A decoder that continues after <paramref name="previous"/> (the last token of a prompt, say), so the first token
    /// appended is decoded as it reads after it: a SentencePiece word start keeps its space. Negative: the start of a sequence.
    /// </summary>
    public IncrementalDecoder(ITokenizer tokenizer, int previous)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        _tokenizer = tokenizer;
        _previous = previous < 0 ? -1 : previous;
    }

    /// <summary>Adds one token and returns the text it completes (possibly empty).</summary>
    public string Append(int id)
    {
        var bytes = _tokenizer.DecodeTokenBytes(_previous, id);
        _previous = id;
        return Convert(bytes, flush: false);
    }

    /// <summary>Ends the sequence: returns U+FFFD for any incomplete trailing character and resets the decoder.</summary>
    public string Flush()
    {
        var text = Convert(ReadOnlySpan<byte>.Empty, flush: true);
        _previous = -1;
        return text;
    }

    private string Convert(ReadOnlySpan<byte> bytes, bool flush)
    {
        int needed = _utf8.GetCharCount(bytes, flush);
        if (_chars.Length < needed) _chars = new char[Math.Max(needed, _chars.Length * 2)];
        int n = _utf8.GetChars(bytes, _chars, flush);
        return n == 0 ? string.Empty : new string(_chars, 0, n);
    }
}

using System.Globalization;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace ModelCompiler.Tokenization;

/// <summary>
/// A SentencePiece <c>tokenizer.model</c> (the protobuf <c>ModelProto</c> that LLaMA-style models publish): BPE or
/// Unigram, with byte fallback. Encoding is Microsoft.ML.Tokenizers' <see cref="SentencePieceTokenizer"/>; this class
/// adds the per-token bytes that streaming needs (byte pieces <c>&lt;0xXX&gt;</c> are their byte, "▁" is a space,
/// BOS/EOS contribute nothing) and the conventions of <see cref="ITokenizer"/> (no BOS from <see cref="Encode"/>).
/// </summary>
public sealed class SentencePieceModelTokenizer : ITokenizer
{
    private const char SpaceMark = '\u2581';

    private readonly SentencePieceTokenizer _model;
    private readonly string[] _pieces;
    private readonly byte[][] _bytes;

    private SentencePieceModelTokenizer(string path, string fingerprint, SentencePieceTokenizer model, string[] pieces)
    {
        SourcePath = path;
        Fingerprint = fingerprint;
        _model = model;
        _pieces = pieces;
        _bytes = new byte[pieces.Length][];
        for (int i = 0; i < pieces.Length; i++) _bytes[i] = PieceBytes(i);
    }

    /// <inheritdoc />
    public string Format => "SentencePiece tokenizer.model";

    /// <inheritdoc />
    public string SourcePath { get; }

    /// <inheritdoc />
    public string Fingerprint { get; }

    /// <inheritdoc />
    public int VocabularySize => _pieces.Length;

    /// <inheritdoc />
    public int? BosId => _model.BeginningOfSentenceId >= 0 ? _model.BeginningOfSentenceId : null;

    /// <inheritdoc />
    public int? EosId => _model.EndOfSentenceId >= 0 ? _model.EndOfSentenceId : null;

    /// <summary>Reads <paramref name="path"/>; MC1020 when unreadable, MC1021 when it is no SentencePiece model this library reads.</summary>
    public static SentencePieceModelTokenizer Load(string path)
    {
        var (full, raw, fingerprint) = TokenizerFile.Read(path);
        SentencePieceTokenizer model;
        try
        {
            using var stream = new MemoryStream(raw, writable: false);
            model = SentencePieceTokenizer.Create(stream, addBeginningOfSentence: false, addEndOfSentence: false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new ModelCompilerException(TokenizationErrors.TokenizerCorrupt, $"not a SentencePiece model Microsoft.ML.Tokenizers can read: {e.Message}", full);
        }

        var size = 0;
        foreach (var id in model.Vocabulary.Values) size = Math.Max(size, id + 1);
        var pieces = new string[size];
        foreach (var (piece, id) in model.Vocabulary) if (id >= 0) pieces[id] = piece;
        for (int i = 0; i < size; i++)
            if (pieces[i] is null) throw new ModelCompilerException(TokenizationErrors.TokenizerCorrupt, $"id {i} has no piece (ids must be contiguous).", full);
        return new SentencePieceModelTokenizer(full, fingerprint, model, pieces);
    }

    /// <inheritdoc />
    public IReadOnlyList<int> Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.Length == 0 ? [] : _model.EncodeToIds(text, addBeginningOfSentence: false, addEndOfSentence: false);
    }

    /// <inheritdoc />
    public string Decode(ReadOnlySpan<int> ids)
    {
        var buffer = new List<byte>();
        int previous = -1;
        foreach (var id in ids)
        {
            buffer.AddRange(DecodeTokenBytes(previous, id).ToArray());
            previous = id;
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <inheritdoc />
    public ReadOnlySpan<byte> DecodeTokenBytes(int previous, int id)
    {
        if ((uint)id >= (uint)_bytes.Length) throw new ArgumentOutOfRangeException(nameof(id), id, "token id outside the vocabulary.");
        var bytes = _bytes[id];
        // The dummy prefix "▁" of the first piece is not text (SentencePiece's decoder drops it).
        if (_model.AddDummyPrefix && previous < 0 && bytes.Length > 0 && bytes[0] == (byte)' ') return bytes.AsSpan(1);
        return bytes;
    }

    /// <inheritdoc />
    public string GetPiece(int id) => (uint)id < (uint)_pieces.Length ? _pieces[id] : throw new ArgumentOutOfRangeException(nameof(id));

    private byte[] PieceBytes(int id)
    {
        if (id == _model.BeginningOfSentenceId || id == _model.EndOfSentenceId) return [];
        var piece = _pieces[id];
        if (_model.ByteFallback && piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>'
            && byte.TryParse(piece.AsSpan(3, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var value))
            return [value];
        return Encoding.UTF8.GetBytes(piece.Replace(SpaceMark, ' '));
    }
}

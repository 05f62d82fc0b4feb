namespace ModelCompiler.Tokenization;

/// <summary>
/// Turns text into the token ids a model was trained on, and back. Implementations are immutable and
/// safe to share between threads.
/// </summary>
public interface ITokenizer
{
    /// <summary>Short name of the file format, e.g. <c>llama2.c</c>; shown in reports and manifests.</summary>
    string Format { get; }

    /// <summary>Full path of the file the vocabulary was loaded from.</summary>
    string SourcePath { get; }

    /// <summary><c>sha256:&lt;hex&gt;</c> of the vocabulary file's bytes, so a manifest can pin the exact tokenizer.</summary>
    string Fingerprint { get; }

    /// <summary>Number of token ids; every id returned by <see cref="Encode"/> is below it.</summary>
    int VocabularySize { get; }

    /// <summary>Beginning-of-sequence id, or null when the vocabulary has none.</summary>
    int? BosId { get; }

    /// <summary>End-of-sequence id, or null when the vocabulary has none.</summary>
    int? EosId { get; }

    /// <summary>
    /// Encodes text without BOS or EOS. Whatever the format does to the start of the text (a dummy-prefix
    /// space, for SentencePiece-style vocabularies) is done here. The empty string gives no tokens.
    /// </summary>
    IReadOnlyList<int> Encode(string text);

    /// <summary>
    /// Decodes a sequence as if it followed BOS (so a dummy prefix added by <see cref="Encode"/> is removed):
    /// <c>Decode(Encode(text)) == text</c> for any well-formed string. Bytes that do not form valid UTF-8
    /// become U+FFFD.
    /// </summary>
    string Decode(ReadOnlySpan<int> ids);

    /// <summary>
    /// The bytes token <paramref name="id"/> contributes to the text when it follows <paramref name="previous"/>
    /// (a negative <paramref name="previous"/> means the start of the sequence). For streaming output one
    /// token at a time; <see cref="IncrementalDecoder"/> turns these bytes into whole characters.
    /// </summary>
    ReadOnlySpan<byte> DecodeTokenBytes(int previous, int id);

    /// <summary>The vocabulary entry of <paramref name="id"/> as text, for reports and debugging (not for decoding).</summary>
    string GetPiece(int id);
}

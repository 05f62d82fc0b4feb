namespace ModelCompiler.Tokenization;

/// <summary>Picks the tokenizer implementation for a file.</summary>
public static class TokenizerLoader
{
    /// <summary>
    /// Loads a tokenizer: a llama2.c <c>.bin</c>, a Hugging Face <c>tokenizer.json</c> (BPE, GPT-2 or LLaMA
    /// style) or a SentencePiece <c>tokenizer.model</c> (directly, or found in a model folder).
    /// </summary>
    /// <param name="path">The tokenizer file, or a Hugging Face model folder.</param>
    /// <param name="vocabSize">The model's vocabulary size; llama2.c tokenizers read exactly this many entries.</param>
    public static ITokenizer Load(string path, int? vocabSize = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        var fullPath = Path.GetFullPath(path);

        if (Directory.Exists(fullPath))
        {
            foreach (var name in new[] { "tokenizer.json", "tokenizer.model" })
            {
                var candidate = Path.Combine(fullPath, name);
                if (File.Exists(candidate)) return Load(candidate, vocabSize);
            }
            throw new ModelCompilerException(TokenizationErrors.TokenizerNotFound,
                "this is a folder without tokenizer.json or tokenizer.model; pass the tokenizer file itself.", fullPath);
        }
        if (!File.Exists(fullPath))
            throw new ModelCompilerException(TokenizationErrors.TokenizerNotFound,
                "tokenizer file not found; check the path.", fullPath);

        return Kind(fullPath) switch
        {
            TokenizerKind.Llama2c => Llama2cTokenizer.Load(fullPath, vocabSize),
            TokenizerKind.HuggingFaceJson => HuggingFaceTokenizer.Load(fullPath),
            TokenizerKind.SentencePiece => SentencePieceModelTokenizer.Load(fullPath),
            _ => throw new ModelCompilerException(TokenizationErrors.TokenizerFormatUnknown,
                $"unknown tokenizer format '{Path.GetExtension(fullPath)}'; expected a llama2.c tokenizer (.bin) or tokenizer.json.", fullPath),
        };
    }

    /// <summary>The name endings of a tokenizer copy beside a model, one per format: llama2.c, tokenizer.json, SentencePiece.</summary>
    public static IReadOnlyList<string> CopySuffixes { get; } = [".tokenizer.bin", ".tokenizer.json", ".tokenizer.model"];

    /// <summary>
    /// The name ending of a copy of the tokenizer at <paramref name="path"/> that says its format:
    /// <c>.tokenizer.json</c>, <c>.tokenizer.model</c>, else <c>.tokenizer.bin</c> (llama2.c, or a format not known).
    /// </summary>
    public static string CopySuffix(string path) => Kind(Path.GetFullPath(path)) switch
    {
        TokenizerKind.HuggingFaceJson => CopySuffixes[1],
        TokenizerKind.SentencePiece => CopySuffixes[2],
        _ => CopySuffixes[0],
    };

    /// <summary>
    /// The seam for further formats: decided by file name, which is how these files are published. A <c>.bin</c> file is
    /// looked into, because compiles before <see cref="CopySuffix"/> copied every tokenizer as <c>&lt;model&gt;.tokenizer.bin</c>:
    /// JSON (first byte <c>{</c>) is a tokenizer.json, a protobuf whose first field is a piece is a SentencePiece model.
    /// </summary>
    internal static TokenizerKind Kind(string path)
    {
        var ext = Path.GetExtension(path);
        if (ext.Equals(".bin", StringComparison.OrdinalIgnoreCase)) return Sniff(path);
        if (ext.Equals(".json", StringComparison.OrdinalIgnoreCase)) return TokenizerKind.HuggingFaceJson;
        if (ext.Equals(".model", StringComparison.OrdinalIgnoreCase)) return TokenizerKind.SentencePiece;
        return TokenizerKind.Unknown;
    }

    private static TokenizerKind Sniff(string path)
    {
        Span<byte> head = stackalloc byte[16];
        int n;
        try
        {
            using var file = File.OpenRead(path);
            n = file.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return TokenizerKind.Llama2c; // its loader reports the read error with its code
        }

        head = head[..n];
        var first = head.IndexOfAnyExcept(" \t\r\n"u8);
        if (first >= 0 && head[first] == (byte)'{') return TokenizerKind.HuggingFaceJson;
        // ModelProto: field 1 (pieces, length-delimited: 0x0A), a varint length, then the piece's field 1 (0x0A).
        // A llama2.c file starts with int32 max_token_length, little-endian: 0x0A 0x00 ... for 10, never 0x0A len 0x0A.
        if (head.Length >= 3 && head[0] == 0x0A)
        {
            int i = 1;
            while (i < head.Length && (head[i] & 0x80) != 0) i++;
            if (i + 1 < head.Length && head[i] != 0 && head[i + 1] == 0x0A) return TokenizerKind.SentencePiece;
        }

        return TokenizerKind.Llama2c;
    }

    internal enum TokenizerKind { Unknown, Llama2c, HuggingFaceJson, SentencePiece }
}

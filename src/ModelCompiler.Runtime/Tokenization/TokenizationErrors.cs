namespace ModelCompiler.Tokenization;

/// <summary>Error codes of the tokenizer and text-corpus layer (MC1020–MC1039).</summary>
public static class TokenizationErrors
{
    /// <summary>Tokenizer file (or folder) not found or not readable.</summary>
    public const string TokenizerNotFound = "MC1020";

    /// <summary>Tokenizer file is corrupt: truncated, negative or absurd lengths, too few entries for a llama2.c vocabulary.</summary>
    public const string TokenizerCorrupt = "MC1021";

    /// <summary>Tokenizer file has fewer entries than the model's vocabulary.</summary>
    public const string TokenizerVocabularyMismatch = "MC1022";

    /// <summary>A known tokenizer format that this version cannot read yet (tokenizer.json, tokenizer.model).</summary>
    public const string TokenizerFormatNotSupported = "MC1023";

    /// <summary>A file that is no tokenizer format we know.</summary>
    public const string TokenizerFormatUnknown = "MC1024";

    /// <summary>Text file (calibration or evaluation corpus) not found or not readable.</summary>
    public const string TextNotFound = "MC1030";

    /// <summary>Text file is not valid UTF-8.</summary>
    public const string TextNotUtf8 = "MC1031";

    /// <summary>Text file has no text: empty, whitespace only, or only document separators.</summary>
    public const string TextEmpty = "MC1032";

    /// <summary>A token-stream setting out of range (context length, token limit).</summary>
    public const string TokenStreamSettingInvalid = "MC1033";

    /// <summary>The tokenizer has no BOS token, which the perplexity convention needs.</summary>
    public const string TokenizerWithoutBos = "MC1034";
}

/// <summary>Reading a tokenizer file: its bytes and their fingerprint, MC1020 when it cannot be read.</summary>
internal static class TokenizerFile
{
    public static (string FullPath, byte[] Bytes, string Fingerprint) Read(string path)
    {
        var full = Path.GetFullPath(path);
        byte[] raw;
        try { raw = File.ReadAllBytes(full); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new ModelCompilerException(TokenizationErrors.TokenizerNotFound, $"cannot read the tokenizer: {e.Message}", full); }
        return (full, raw, Fingerprint(raw));
    }

    public static string Fingerprint(ReadOnlySpan<byte> bytes) => "sha256:" + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(bytes)).ToLowerInvariant();
}

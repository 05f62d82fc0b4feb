namespace ModelCompiler.Tokenization;

/// <summary>Picks the tokenizer implementation for a file.</summary>
public static class TokenizerLoader
{
    /// <summary>
    /// Loads a tokenizer: a llama2.c <c>.bin</c> or a Hugging Face <c>tokenizer.json</c> (BPE, GPT-2 or LLaMA
    /// style). SentencePiece <c>tokenizer.model</c> (directly, or found in a model folder) is recognised and
    /// rejected with MC1023.
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
            TokenizerKind.SentencePiece => throw new ModelCompilerException(TokenizationErrors.TokenizerFormatNotSupported,
                "not supported yet: SentencePiece tokenizer.model via Microsoft.ML.Tokenizers; for now convert it to llama2.c's tokenizer.bin (llama2.c tokenizer.py) and pass that.",
                fullPath),
            _ => throw new ModelCompilerException(TokenizationErrors.TokenizerFormatUnknown,
                $"unknown tokenizer format '{Path.GetExtension(fullPath)}'; expected a llama2.c tokenizer (.bin) or tokenizer.json.", fullPath),
        };
    }

    /// <summary>The seam for further formats: decided by file name, which is how these files are published.</summary>
    internal static TokenizerKind Kind(string path)
    {
        var ext = Path.GetExtension(path);
        if (ext.Equals(".bin", StringComparison.OrdinalIgnoreCase)) return TokenizerKind.Llama2c;
        if (ext.Equals(".json", StringComparison.OrdinalIgnoreCase)) return TokenizerKind.HuggingFaceJson;
        if (ext.Equals(".model", StringComparison.OrdinalIgnoreCase)) return TokenizerKind.SentencePiece;
        return TokenizerKind.Unknown;
    }

    internal enum TokenizerKind { Unknown, Llama2c, HuggingFaceJson, SentencePiece }
}

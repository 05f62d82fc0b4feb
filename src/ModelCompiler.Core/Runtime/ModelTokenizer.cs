using ModelCompiler.Import;
using ModelCompiler.Tokenization;

namespace ModelCompiler.Runtime;

/// <summary>
/// Finds a model's tokenizer: an explicit path, else the one the model's metadata names beside it, else
/// <c>&lt;model&gt;.tokenizer.bin</c>, <c>.tokenizer.json</c> or <c>.tokenizer.model</c> (the names import and compile
/// give their copies), else a Hugging Face <c>tokenizer.json</c> or SentencePiece <c>tokenizer.model</c> in the model's folder.
/// </summary>
public static class ModelTokenizer
{
    public static string? FindBeside(string modelPath, IReadOnlyDictionary<string, string>? metadata)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(modelPath))!;
        if (metadata is not null && metadata.TryGetValue(Llama2cImporter.MetadataKeys.Tokenizer, out var name) && !string.IsNullOrEmpty(name))
        {
            var candidate = Onnx.OnnxModelIO.ResolveExternalLocation(name, dir, "tokenizer", Path.GetFullPath(modelPath));
            if (File.Exists(candidate)) return candidate;
        }
        foreach (var suffix in TokenizerLoader.CopySuffixes)
        {
            var conventional = Path.Combine(dir, Path.GetFileNameWithoutExtension(modelPath) + suffix);
            if (File.Exists(conventional)) return conventional;
        }
        foreach (var hf in new[] { "tokenizer.json", "tokenizer.model" })
        {
            var inFolder = Path.Combine(dir, hf);
            if (File.Exists(inFolder)) return inFolder;
        }
        return null;
    }

    /// <summary>Loads the tokenizer and checks it fits the model's vocabulary.</summary>
    public static ITokenizer Load(DecoderSession session, string? explicitPath)
    {
        var path = explicitPath is not null ? Path.GetFullPath(explicitPath)
            : FindBeside(session.ModelPath, session.Session.ModelMetadata.CustomMetadataMap)
              ?? throw new ModelCompilerException(TokenizationErrors.TokenizerNotFound,
                  $"no tokenizer found beside the model (expected {Path.GetFileNameWithoutExtension(session.ModelPath)}.tokenizer.bin/.json/.model, tokenizer.json or tokenizer.model); pass --tokenizer.",
                  Path.GetFullPath(session.ModelPath));
        var tokenizer = TokenizerLoader.Load(path, session.VocabSize > 0 ? session.VocabSize : null);
        if (session.VocabSize > 0 && tokenizer.VocabularySize != session.VocabSize)
            throw new ModelCompilerException(TokenizationErrors.TokenizerVocabularyMismatch,
                $"the tokenizer has {tokenizer.VocabularySize} tokens but the model's logits have {session.VocabSize}; use the model's own tokenizer.", path);
        return tokenizer;
    }
}

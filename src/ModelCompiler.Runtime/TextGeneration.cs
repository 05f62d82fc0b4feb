using System.Runtime.CompilerServices;
using ModelCompiler.Tokenization;

namespace ModelCompiler.Runtime;

/// <summary>
/// Text in and out for the generated wrappers: the tokenizer beside the model, ids as <see langword="long"/> (the type
/// generation uses), and streamed generation that yields whole characters only (a character spread over several
/// byte-fallback tokens appears once its last byte has arrived).
/// </summary>
public static class TextGeneration
{
    /// <summary>
    /// Loads the tokenizer <paramref name="tokenizerFileName"/> from the folder of <paramref name="modelPath"/> (where the
    /// build copies it beside the model) and checks that it fits the model's vocabulary.
    /// </summary>
    /// <param name="modelPath">The model file the wrapper loaded.</param>
    /// <param name="tokenizerFileName">The manifest's <c>model.tokenizer</c>: a llama2.c <c>.bin</c>, a <c>tokenizer.json</c> or a SentencePiece <c>tokenizer.model</c>, whatever its extension.</param>
    /// <param name="vocabularySize">The model's vocabulary (the logits' last dimension), or <see langword="null"/> when unknown.</param>
    /// <exception cref="ModelCompilerException">The file is missing (MC1020), malformed (MC1021), of another vocabulary size (MC1022) or in a format not supported (MC1023, MC1024).</exception>
    public static ITokenizer LoadBeside(string modelPath, string tokenizerFileName, long? vocabularySize)
    {
        ArgumentNullException.ThrowIfNull(modelPath);
        ArgumentNullException.ThrowIfNull(tokenizerFileName);
        var folder = Path.GetDirectoryName(Path.GetFullPath(modelPath)) ?? ".";
        var path = Path.Combine(folder, tokenizerFileName);
        int? size = vocabularySize is > 0 and <= int.MaxValue ? (int)vocabularySize.Value : null;
        var tokenizer = TokenizerLoader.Load(path, size);
        if (size is { } n && tokenizer.VocabularySize != n)
            throw new ModelCompilerException(TokenizationErrors.TokenizerVocabularyMismatch,
                $"the tokenizer has {tokenizer.VocabularySize} tokens but the model's logits have {n}; use the model's own tokenizer.", Path.GetFullPath(path));
        return tokenizer;
    }

    /// <summary>The ids of <paramref name="text"/>, without BOS or EOS (as <c>modelc tokenize</c> prints them).</summary>
    public static long[] Encode(ITokenizer tokenizer, string text)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(text);
        var ids = tokenizer.Encode(text);
        var result = new long[ids.Count];
        for (int i = 0; i < result.Length; i++) result[i] = ids[i];
        return result;
    }

    /// <summary>The text of <paramref name="tokens"/>, decoded as a whole sequence (see <see cref="ITokenizer.Decode"/>).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A token is outside the vocabulary.</exception>
    public static string Decode(ITokenizer tokenizer, ReadOnlySpan<long> tokens)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        var ids = new int[tokens.Length];
        for (int i = 0; i < ids.Length; i++)
            ids[i] = tokens[i] >= 0 && tokens[i] < tokenizer.VocabularySize
                ? (int)tokens[i]
                : throw new ArgumentOutOfRangeException(nameof(tokens), tokens[i], "token id outside the vocabulary.");
        return tokenizer.Decode(ids);
    }

    /// <summary>
    /// Streams the text generated after <paramref name="prompt"/>: the prompt is encoded (after <paramref name="bosTokenId"/>
    /// when there is one), tokens come from <see cref="TokenGenerator.GenerateAsync"/>, and each yielded piece is the whole
    /// characters the latest tokens completed. The pieces together are the text of the generated tokens as it reads after the prompt.
    /// </summary>
    /// <exception cref="ArgumentException">The prompt encodes to no token and there is no BOS token to start from.</exception>
    public static async IAsyncEnumerable<string> GenerateTextAsync(
        this TokenGenerator generator,
        ITokenizer tokenizer,
        string prompt,
        long? bosTokenId,
        int maxNewTokens,
        GenerationOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(generator);
        var ids = Encode(tokenizer, prompt);
        long[] tokens = bosTokenId is { } bos ? [bos, .. ids] : ids;
        if (tokens.Length == 0)
            throw new ArgumentException("The prompt encodes to no token and the model has no BOS token to start from.", nameof(prompt));
        var decoder = new IncrementalDecoder(tokenizer, ids.Length > 0 ? (int)ids[^1] : -1);
        await foreach (var token in generator.GenerateAsync(tokens, maxNewTokens, options, cancellationToken).ConfigureAwait(false))
        {
            var piece = decoder.Append((int)token);
            if (piece.Length > 0) yield return piece;
        }

        var rest = decoder.Flush();
        if (rest.Length > 0) yield return rest;
    }
}

using ModelCompiler.Tokenization;

namespace ModelCompiler.Evaluation;

/// <summary>
/// The token stream that perplexity is measured on (DESIGN.md §5): the concatenation over documents of
/// [BOS] + Encode(document), optionally cut to the first N tokens, read in non-overlapping windows of
/// <c>context</c> tokens. In each window the first token is context only and the others are predicted; a final
/// window counts when it has at least 2 tokens.
/// </summary>
public sealed class TokenStream
{
    private readonly int[] _tokens;

    private TokenStream(string sourcePath, int[] tokens, int documentCount, bool truncated)
    {
        SourcePath = sourcePath;
        _tokens = tokens;
        DocumentCount = documentCount;
        Truncated = truncated;
    }

    /// <summary>The text file (or name) the stream was made from.</summary>
    public string SourcePath { get; }

    /// <summary>The token ids.</summary>
    public ReadOnlySpan<int> Span => _tokens;

    /// <summary>The token ids, as a list.</summary>
    public IReadOnlyList<int> Tokens => _tokens;

    public int Count => _tokens.Length;

    /// <summary>Documents that contributed at least their BOS.</summary>
    public int DocumentCount { get; }

    /// <summary>True when a token limit cut the stream short.</summary>
    public bool Truncated { get; }

    /// <summary>Reads a text file and tokenizes it (see <see cref="TextCorpus.Load"/> for the errors).</summary>
    public static TokenStream Load(string textPath, ITokenizer tokenizer, int? maxTokens = null)
        => Create(TextCorpus.Load(textPath), tokenizer, maxTokens);

    /// <summary>
    /// Tokenizes a corpus. With <paramref name="maxTokens"/>, the first that many tokens are kept and documents
    /// after them are not encoded at all.
    /// </summary>
    /// <exception cref="ModelCompilerException">MC1033 when maxTokens &lt; 1, MC1034 when the tokenizer has no BOS.</exception>
    public static TokenStream Create(TextCorpus corpus, ITokenizer tokenizer, int? maxTokens = null)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (maxTokens is < 1)
            throw new ModelCompilerException(TokenizationErrors.TokenStreamSettingInvalid,
                $"the token limit is {maxTokens}; it must be at least 1 (leave it out to use the whole text).", corpus.SourcePath);
        if (tokenizer.BosId is not { } bos)
            throw new ModelCompilerException(TokenizationErrors.TokenizerWithoutBos,
                "the tokenizer has no BOS token, which the perplexity convention puts before every document; use a tokenizer with one.",
                tokenizer.SourcePath);

        return Concatenate(corpus.SourcePath, corpus.Documents.Count, i => tokenizer.Encode(corpus.Documents[i]), bos, maxTokens);
    }

    /// <summary>
    /// The stream of documents given as token ids (see <see cref="TokenIdFile"/>): [BOS] + ids per document, under the
    /// same convention and token limit as <see cref="Create"/>, so tokenized ids give the text's stream exactly.
    /// </summary>
    /// <exception cref="ModelCompilerException">MC1033 when maxTokens &lt; 1.</exception>
    public static TokenStream FromDocuments(string sourcePath, IReadOnlyList<int[]> documents, int bos, int? maxTokens = null)
    {
        ArgumentNullException.ThrowIfNull(sourcePath);
        ArgumentNullException.ThrowIfNull(documents);
        if (maxTokens is < 1)
            throw new ModelCompilerException(TokenizationErrors.TokenStreamSettingInvalid,
                $"the token limit is {maxTokens}; it must be at least 1 (leave it out to use the whole stream).", sourcePath);
        return Concatenate(sourcePath, documents.Count, i => documents[i], bos, maxTokens);
    }

    /// <summary>
    /// [BOS] + ids per document, cut to the first <paramref name="maxTokens"/> tokens; documents after the limit are
    /// not asked for (not encoded).
    /// </summary>
    private static TokenStream Concatenate(string sourcePath, int documentCount, Func<int, IEnumerable<int>> idsOf, int bos, int? maxTokens)
    {
        int limit = maxTokens ?? int.MaxValue;
        var tokens = new List<int>();
        int count = 0;
        bool truncated = false;
        for (int i = 0; i < documentCount; i++)
        {
            if (tokens.Count >= limit) { truncated = true; break; }
            count++;
            tokens.Add(bos);
            tokens.AddRange(idsOf(i));
        }
        if (tokens.Count > limit)
        {
            tokens.RemoveRange(limit, tokens.Count - limit);
            truncated = true;
        }
        return new TokenStream(sourcePath, [.. tokens], count, truncated);
    }

    /// <summary>A stream of token ids that did not come from a text (e.g. sampled from the model itself).</summary>
    public static TokenStream FromTokens(string sourceName, int[] tokens, int documentCount = 1)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        return new TokenStream(sourceName, tokens.ToArray(), documentCount, truncated: false);
    }

    /// <summary>Number of windows that count at this context length.</summary>
    public int WindowCount(int context) => CountWindows(Count, context);

    /// <summary>Number of predicted tokens (the perplexity denominator) at this context length.</summary>
    public int PredictedTokens(int context) => CountPredictedTokens(Count, context);

    /// <summary>The windows that count, in order.</summary>
    public IEnumerable<TokenWindow> Windows(int context)
    {
        CheckContext(context);
        return Enumerate(_tokens, context);

        static IEnumerable<TokenWindow> Enumerate(int[] tokens, int context)
        {
            int index = 0;
            for (int start = 0; tokens.Length - start >= 2; start += context)
            {
                int length = Math.Min(context, tokens.Length - start);
                yield return new TokenWindow(index++, start, tokens.AsMemory(start, length));
            }
        }
    }

    /// <summary>Windows of a stream of <paramref name="tokenCount"/> tokens: the full ones plus a last one of ≥ 2 tokens.</summary>
    public static int CountWindows(int tokenCount, int context)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tokenCount);
        CheckContext(context);
        int rest = tokenCount % context;
        return tokenCount / context + (rest >= 2 ? 1 : 0);
    }

    /// <summary>Predicted tokens of a stream of <paramref name="tokenCount"/> tokens: length − 1 per counted window.</summary>
    public static int CountPredictedTokens(int tokenCount, int context)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tokenCount);
        CheckContext(context);
        int rest = tokenCount % context;
        return tokenCount / context * (context - 1) + (rest >= 2 ? rest - 1 : 0);
    }

    private static void CheckContext(int context)
    {
        if (context < 2)
            throw new ModelCompilerException(TokenizationErrors.TokenStreamSettingInvalid,
                $"the context length is {context}; it must be at least 2 (one context token and one predicted token per window).");
    }
}

/// <summary>One perplexity window: <see cref="Tokens"/> starts at <see cref="Start"/> in the stream.</summary>
public readonly record struct TokenWindow(int Index, int Start, ReadOnlyMemory<int> Tokens)
{
    public int Length => Tokens.Length;

    /// <summary>Tokens scored in this window: all but the first.</summary>
    public int PredictedTokens => Tokens.Length - 1;
}

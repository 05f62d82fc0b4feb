using System.Text;
using ModelCompiler.Tokenization;

namespace ModelCompiler.Evaluation;

/// <summary>
/// A UTF-8 text file split into documents (DESIGN.md §5): documents are separated by lines that read
/// <c>&lt;|endoftext|&gt;</c> once trimmed; without such lines the whole file is one document. Each document is
/// trimmed, and empty ones are dropped.
/// </summary>
public sealed class TextCorpus
{
    /// <summary>The line that separates documents (TinyStories, GPT-2 style).</summary>
    public const string DocumentSeparator = "<|endoftext|>";

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private TextCorpus(string sourcePath, IReadOnlyList<string> documents)
    {
        SourcePath = sourcePath;
        Documents = documents;
    }

    /// <summary>Where the text came from (a full path, or the name given to <see cref="FromText"/>).</summary>
    public string SourcePath { get; }

    /// <summary>The trimmed, non-empty documents in file order; never empty.</summary>
    public IReadOnlyList<string> Documents { get; }

    /// <summary>Reads a corpus file as strict UTF-8 (a leading byte-order mark is allowed and skipped).</summary>
    /// <exception cref="ModelCompilerException">MC1030 missing or unreadable, MC1031 not UTF-8, MC1032 no text.</exception>
    public static TextCorpus Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var fullPath = Path.GetFullPath(path);
        if (!File.Exists(fullPath))
            throw new ModelCompilerException(TokenizationErrors.TextNotFound, "text file not found; check the path.", fullPath);

        byte[] bytes;
        try { bytes = File.ReadAllBytes(fullPath); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelCompilerException(TokenizationErrors.TextNotFound, $"cannot read the text file: {e.Message}", fullPath, inner: e);
        }

        int start = bytes.AsSpan().StartsWith(Encoding.UTF8.Preamble) ? Encoding.UTF8.Preamble.Length : 0;
        string text;
        try
        {
            text = StrictUtf8.GetString(bytes, start, bytes.Length - start);
        }
        catch (DecoderFallbackException e)
        {
            int offset = start + Math.Max(0, e.Index);
            var (line, column) = LineAndColumn(bytes, offset);
            throw new ModelCompilerException(TokenizationErrors.TextNotUtf8,
                $"not valid UTF-8 (invalid byte 0x{bytes[Math.Min(offset, bytes.Length - 1)]:X2} at byte offset {offset}); save the file as UTF-8.",
                fullPath, line, column, e);
        }
        return FromText(text, fullPath);
    }

    /// <summary>Builds a corpus from text in memory; <paramref name="sourceName"/> names it in errors.</summary>
    /// <exception cref="ModelCompilerException">MC1032 when there is no text.</exception>
    public static TextCorpus FromText(string text, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(sourceName);
        if (string.IsNullOrWhiteSpace(text))
            throw new ModelCompilerException(TokenizationErrors.TextEmpty,
                "the text file is empty or whitespace only; pass a file with text in it.", sourceName);
        var documents = SplitDocuments(text);
        if (documents.Count == 0)
            throw new ModelCompilerException(TokenizationErrors.TextEmpty,
                $"the text file holds only '{DocumentSeparator}' separators and no text; pass a file with text in it.", sourceName);
        return new TextCorpus(sourceName, documents);
    }

    /// <summary>Splits text on separator lines; returns the trimmed, non-empty documents.</summary>
    public static IReadOnlyList<string> SplitDocuments(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var documents = new List<string>();
        int documentStart = 0, lineStart = 0;
        while (lineStart <= text.Length)
        {
            int newline = text.IndexOf('\n', lineStart);
            int lineEnd = newline < 0 ? text.Length : newline;
            if (text.AsSpan(lineStart, lineEnd - lineStart).Trim().SequenceEqual(DocumentSeparator))
            {
                Add(documentStart, lineStart);
                documentStart = newline < 0 ? text.Length : newline + 1;
            }
            if (newline < 0) break;
            lineStart = newline + 1;
        }
        Add(documentStart, text.Length);
        return documents;

        void Add(int from, int to)
        {
            var document = text[from..to].Trim();
            if (document.Length > 0) documents.Add(document);
        }
    }

    /// <summary>1-based line and column (in bytes) of a byte offset, for the error position.</summary>
    private static (int Line, int Column) LineAndColumn(byte[] bytes, int offset)
    {
        offset = Math.Clamp(offset, 0, bytes.Length);
        var before = bytes.AsSpan(0, offset);
        int line = before.Count((byte)'\n') + 1;
        int column = offset - (before.LastIndexOf((byte)'\n') + 1) + 1;
        return (line, column);
    }
}

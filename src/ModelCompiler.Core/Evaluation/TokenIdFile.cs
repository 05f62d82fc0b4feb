using System.Text.Json;
using ModelCompiler.Tokenization;

namespace ModelCompiler.Evaluation;

/// <summary>
/// Token ids per document from a JSON file of the shape <c>modelc tokenize --json</c> prints:
/// <c>{"documents": [{"ids": [...]}, ...]}</c>, ids without BOS. Lets eval run on a decoder with no usable tokenizer.
/// </summary>
public static class TokenIdFile
{
    /// <summary>The file is no such JSON, or an id is outside the model's vocabulary.</summary>
    public const string Invalid = "MC1035";

    /// <summary>Reads the documents' ids.</summary>
    /// <exception cref="ModelCompilerException">MC1030 missing, MC1035 malformed or an id outside [0, vocabSize), MC1032 no documents.</exception>
    public static IReadOnlyList<int[]> Load(string path, long vocabSize)
    {
        ArgumentNullException.ThrowIfNull(path);
        var fullPath = Path.GetFullPath(path);
        if (!File.Exists(fullPath))
            throw new ModelCompilerException(TokenizationErrors.TextNotFound, "token-id file not found; check the path.", fullPath);
        string json;
        try { json = File.ReadAllText(fullPath); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelCompilerException(TokenizationErrors.TextNotFound, $"cannot read the token-id file: {e.Message}", fullPath, inner: e);
        }

        JsonDocument document;
        try { document = JsonDocument.Parse(json); }
        catch (JsonException e)
        {
            throw new ModelCompilerException(Invalid, $"not valid JSON: {e.Message}",
                fullPath, e.LineNumber is { } l ? (int)l + 1 : 0, e.BytePositionInLine is { } c ? (int)c + 1 : 0, e);
        }
        using (document)
        {
            const string Shape = "expected {\"documents\": [{\"ids\": [...]}, ...]} as `modelc tokenize --json` prints";
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("documents", out var documents) || documents.ValueKind != JsonValueKind.Array)
                throw new ModelCompilerException(Invalid, $"{Shape}; there is no \"documents\" array.", fullPath);
            var result = new List<int[]>();
            foreach (var entry in documents.EnumerateArray())
            {
                var index = result.Count;
                if (entry.ValueKind != JsonValueKind.Object || !entry.TryGetProperty("ids", out var ids) || ids.ValueKind != JsonValueKind.Array)
                    throw new ModelCompilerException(Invalid, $"{Shape}; document {index} has no \"ids\" array.", fullPath);
                var row = new int[ids.GetArrayLength()];
                var i = 0;
                foreach (var id in ids.EnumerateArray())
                {
                    if (id.ValueKind != JsonValueKind.Number || !id.TryGetInt32(out var value))
                        throw new ModelCompilerException(Invalid, $"document {index}, id {i}: {id.GetRawText()} is not an integer token id.", fullPath);
                    if (value < 0 || (vocabSize > 0 && value >= vocabSize))
                        throw new ModelCompilerException(Invalid, $"document {index}, id {i}: {value} is outside the model's vocabulary [0, {vocabSize}).", fullPath);
                    row[i++] = value;
                }
                result.Add(row);
            }
            if (result.Count == 0)
                throw new ModelCompilerException(TokenizationErrors.TextEmpty, "the token-id file has no documents; pass one with at least one document.", fullPath);
            return result;
        }
    }
}

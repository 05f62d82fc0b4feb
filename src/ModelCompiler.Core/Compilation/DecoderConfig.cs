using System.Text.Json;
using ModelCompiler.Decoding;

namespace ModelCompiler.Compilation;

/// <summary>
/// What <c>genai_config.json</c> (ONNX Runtime GenAI, its <c>model</c> section) or a Hugging Face <c>config.json</c> beside a
/// model says about its decoder: BOS/EOS ids, context length, vocabulary, KV heads, head size, layers. GenAI's file wins
/// over <c>config.json</c> key by key. <see cref="Check"/> compares the figures with the graph (MC1048).
/// </summary>
public sealed record DecoderConfig(string? Source, int? BosTokenId, IReadOnlyList<int> EosTokenIds, int? ContextLength,
    long? VocabSize, long? KvHeads, long? HeadDim, int? Layers)
{
    /// <summary>The config file contradicts the graph, or cannot be read.</summary>
    public const string Contradiction = "MC1048";

    public static DecoderConfig None { get; } = new(null, null, [], null, null, null, null, null);

    /// <summary>Reads the config files in <paramref name="folder"/>; <see cref="None"/> when there are none.</summary>
    public static DecoderConfig Read(string folder)
    {
        var genai = Path.Combine(folder, "genai_config.json");
        var hf = Path.Combine(folder, "config.json");
        var fromGenai = File.Exists(genai) ? FromGenai(genai) : None;
        var fromHf = File.Exists(hf) ? FromHuggingFace(hf) : None;
        return new DecoderConfig(fromGenai.Source ?? fromHf.Source,
            fromGenai.BosTokenId ?? fromHf.BosTokenId,
            fromGenai.EosTokenIds.Count > 0 ? fromGenai.EosTokenIds : fromHf.EosTokenIds,
            fromGenai.ContextLength ?? fromHf.ContextLength,
            fromGenai.VocabSize ?? fromHf.VocabSize,
            fromGenai.KvHeads ?? fromHf.KvHeads,
            fromGenai.HeadDim ?? fromHf.HeadDim,
            fromGenai.Layers ?? fromHf.Layers);
    }

    /// <summary>
    /// The config files beside the model <paramref name="session"/> runs, checked against its graph (MC1048), as compile
    /// reads them: <c>modelc eval</c> and <c>modelc generate</c> take BOS/EOS and the context length from here when the
    /// model's own metadata does not say.
    /// </summary>
    public static DecoderConfig Beside(Runtime.DecoderSession session)
    {
        var modelPath = Path.GetFullPath(session.ModelPath);
        var config = Read(Path.GetDirectoryName(modelPath)!);
        var manifest = Path.ChangeExtension(modelPath, ".manifest.json");
        if (config.Source is null && File.Exists(manifest)) config = FromManifest(manifest); // a compiled model: what compile read
        if (session.Contract.FirstKv is not null) config.Check(session.Contract, session.KvHeads, session.HeadDim, session.ModelPath);
        return config;
    }

    /// <summary>MC1048 when a figure of the config disagrees with the graph's contract.</summary>
    public void Check(DecoderContract contract, long kvHeads, long headDim, string? modelPath)
    {
        if (Source is null) return;
        void Fail(string what) => throw new ModelCompilerException(Contradiction,
            $"{what}; the config beside the model does not describe this graph. Fix or remove it, or pass the graph that belongs to it"
            + (modelPath is null ? "." : $" ({Path.GetFileName(modelPath)})."), Source);
        if (VocabSize is { } v && contract.VocabSize > 0 && v != contract.VocabSize)
            Fail($"vocab_size {v} but the graph's logits have {contract.VocabSize} entries");
        if (KvHeads is { } h && h != kvHeads)
            Fail($"{h} key/value heads but the graph's '{contract.FirstKv!.Input}' has {kvHeads}");
        if (HeadDim is { } d && d != headDim)
            Fail($"head size {d} but the graph's '{contract.FirstKv!.Input}' has {headDim}");
        if (Layers is { } n && contract.States.All(s => s.Kind != DecoderStateKind.State) && n != contract.Layers)
            Fail($"{n} hidden layers but the graph carries a key/value cache for {contract.Layers}");
        var vocab = contract.VocabSize > 0 ? contract.VocabSize : VocabSize;
        foreach (var (name, id) in EosTokenIds.Select(e => ("eos_token_id", (int?)e)).Prepend(("bos_token_id", BosTokenId)))
            if (id is { } t && vocab is { } size && (t < 0 || t >= size))
                Fail($"{name} {t} is outside the vocabulary of {size} tokens");
    }

    private static DecoderConfig FromGenai(string path)
    {
        using var doc = Parse(path);
        if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
            return None;
        var decoder = model.TryGetProperty("decoder", out var d) && d.ValueKind == JsonValueKind.Object ? d : default;
        return new DecoderConfig(path, Int(model, "bos_token_id", path), Ids(model, "eos_token_id", path), Int(model, "context_length", path),
            Int(model, "vocab_size", path), Int(decoder, "num_key_value_heads", path), Int(decoder, "head_size", path), Int(decoder, "num_hidden_layers", path));
    }

    /// <summary>The BOS/EOS ids and context of a compile's manifest (its <c>decoder</c> object), which compile took from the config.</summary>
    private static DecoderConfig FromManifest(string path)
    {
        using var doc = Parse(path);
        if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("decoder", out var d) || d.ValueKind != JsonValueKind.Object)
            return None;
        var eos = Ids(d, "eos_token_ids", path);
        return new DecoderConfig(path, Int(d, "bos_token_id", path), eos.Count > 0 ? eos : Ids(d, "eos_token_id", path), Int(d, "max_positions", path),
            null, null, null, null);
    }

    private static DecoderConfig FromHuggingFace(string path)
    {
        using var doc = Parse(path);
        var c = doc.RootElement;
        if (c.ValueKind != JsonValueKind.Object) return None;
        return new DecoderConfig(path, Int(c, "bos_token_id", path), Ids(c, "eos_token_id", path),
            Int(c, "max_position_embeddings", path) ?? Int(c, "n_positions", path),
            Int(c, "vocab_size", path), Int(c, "num_key_value_heads", path) ?? Int(c, "num_attention_heads", path) ?? Int(c, "n_head", path),
            Int(c, "head_dim", path), Int(c, "num_hidden_layers", path) ?? Int(c, "n_layer", path));
    }

    private static JsonDocument Parse(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            throw new ModelCompilerException(Contradiction, $"cannot read the decoder config: {e.Message}", path);
        }
    }

    private static int? Int(JsonElement o, string key, string path)
    {
        if (o.ValueKind != JsonValueKind.Object || !o.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) ? n
            : throw new ModelCompilerException(Contradiction, $"'{key}' must be an integer, not {v.GetRawText()}.", path);
    }

    private static IReadOnlyList<int> Ids(JsonElement o, string key, string path)
    {
        if (o.ValueKind != JsonValueKind.Object || !o.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return [];
        if (v.ValueKind == JsonValueKind.Array)
            return v.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var n) ? n
                : throw new ModelCompilerException(Contradiction, $"'{key}' must hold integers, not {e.GetRawText()}.", path)).ToArray();
        return [Int(o, key, path)!.Value];
    }
}

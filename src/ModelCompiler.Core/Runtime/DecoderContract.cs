using System.Text.RegularExpressions;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace ModelCompiler.Decoding;

/// <summary>What a recurrent input carries: one layer's keys or values, both packed [2, B, H, S, D], or another state (e.g. a convolution's window).</summary>
public enum DecoderStateKind { Key, Value, PackedKv, State }

/// <summary>
/// One recurrent input: fed zeros of <see cref="InitialShape"/> (batch set per run) on the first step, then the matching
/// <see cref="Output"/> of the previous step. <see cref="SequenceAxis"/> is the axis that grows per step (null for non-KV states).
/// </summary>
public sealed record DecoderState(string Input, string Output, TensorElementType Type, DecoderStateKind Kind, int Layer,
    IReadOnlyList<long> InitialShape, int? SequenceAxis, int BatchAxis)
{
    /// <summary>The first-step shape for <paramref name="batch"/> rows.</summary>
    public long[] ShapeFor(int batch)
    {
        var shape = InitialShape.ToArray();
        shape[BatchAxis] = batch;
        return shape;
    }
}

/// <summary>A plain input the contract fills: its name and element type.</summary>
public sealed record DecoderInput(string Name, TensorElementType Type);

/// <summary>
/// The decoder interface read from the graph, not assumed: names and element types of ids, mask and positions
/// (int32 or int64), logits (fp32/fp16/bf16, rank 3), every recurrent state (KV in the Optimum, <c>past.{i}</c> or packed
/// <c>past_{i}</c> layouts, layer indices as named, and other states such as <c>past_conv.{i}</c>), and GQA-style
/// <c>seqlens_k</c> / <c>total_sequence_length</c>, and a merged decoder's boolean <c>use_cache_branch</c> (Optimum feeds it
/// false on the first step, with zero-length past, and true once there is a past). Any required input it cannot feed is
/// MC1040 naming the input.
/// </summary>
public sealed partial record DecoderContract(
    DecoderInput InputIds, DecoderInput? AttentionMask, DecoderInput? PositionIds, DecoderInput Logits, int LogitsRank,
    IReadOnlyList<DecoderState> States, DecoderInput? SeqlensK, DecoderInput? TotalSequenceLength, int TotalSequenceLengthRank,
    long VocabSize, DecoderInput? UseCacheBranch = null, int UseCacheBranchRank = 1)
{
    /// <summary>Number of distinct layers that carry state (0: the model runs whole sequences, no cache).</summary>
    public int Layers => States.Select(s => s.Layer).Distinct().Count();

    /// <summary>The first KV state (key or packed), whose shape gives the KV heads and head size; null when the graph has no KV.</summary>
    public DecoderState? FirstKv => States.FirstOrDefault(s => s.Kind is DecoderStateKind.Key or DecoderStateKind.PackedKv);

    [GeneratedRegex(@"^past_key_values\.(\d+)\.(key|value)$")] private static partial Regex OptimumKv();
    [GeneratedRegex(@"^past\.(\d+)\.(key|value)$")] private static partial Regex DottedKv();
    [GeneratedRegex(@"^past_(\d+)$")] private static partial Regex PackedKv();
    [GeneratedRegex(@"^past[._](?:[A-Za-z]+[._])?(\d+)(?:[._][A-Za-z]+)?$")] private static partial Regex OtherState();

    public static DecoderContract Of(InferenceSession session, string modelPath)
        => Of(session.InputMetadata.Select(p => (p.Key, p.Value.ElementDataType, p.Value.Dimensions)).ToList(),
              session.OutputMetadata.Select(p => (p.Key, p.Value.ElementDataType, p.Value.Dimensions)).ToList(), modelPath);

    /// <summary>Reads the contract from input and output names, element types and dimensions (negative: symbolic).</summary>
    public static DecoderContract Of(IReadOnlyList<(string Name, TensorElementType Type, int[] Dims)> inputs,
        IReadOnlyList<(string Name, TensorElementType Type, int[] Dims)> outputs, string? modelPath)
    {
        var path = modelPath is null ? null : Path.GetFullPath(modelPath);
        ModelCompilerException Bad(string message) => new("MC1040", message, path);
        var outputByName = outputs.ToDictionary(o => o.Name, StringComparer.Ordinal);

        if (!inputs.Any(i => i.Name == "input_ids"))
            throw Bad("not a decoder language model: the graph has no 'input_ids' input.");
        if (!outputByName.TryGetValue("logits", out var logits))
            throw Bad("not a decoder language model: the graph has no 'logits' output.");
        if (logits.Dims.Length is not (0 or 3)) // rank 0 here: the graph declares no shape
            throw Bad($"not a decoder language model: 'logits' has rank {logits.Dims.Length}, a decoder's logits are [batch, sequence, vocab].");
        if (logits.Type is not (TensorElementType.Float or TensorElementType.Float16 or TensorElementType.BFloat16))
            throw Bad($"'logits' is {logits.Type}; a decoder's logits are float32, float16 or bfloat16.");

        DecoderInput Index((string Name, TensorElementType Type, int[] Dims) i) => i.Type is TensorElementType.Int32 or TensorElementType.Int64
            ? new DecoderInput(i.Name, i.Type) : throw Bad($"input '{i.Name}' is {i.Type}; it must be int32 or int64.");
        DecoderInput Int32(string name, TensorElementType type) => type == TensorElementType.Int32
            ? new DecoderInput(name, type) : throw Bad($"input '{name}' is {type}; it must be int32.");

        DecoderInput? ids = null, mask = null, positions = null, seqlens = null, total = null, useCache = null;
        var totalRank = 0;
        var useCacheRank = 1;
        var states = new List<DecoderState>();
        foreach (var input in inputs)
        {
            switch (input.Name)
            {
                case "input_ids": ids = Index(input); continue;
                case "attention_mask": mask = Index(input); continue;
                case "position_ids": positions = Index(input); continue;
                case "seqlens_k": seqlens = Int32(input.Name, input.Type); continue;
                case "total_sequence_length": total = Int32(input.Name, input.Type); totalRank = input.Dims.Length; continue;
                case "use_cache_branch":
                    useCache = input.Type == TensorElementType.Bool ? new DecoderInput(input.Name, input.Type) : throw Bad($"input '{input.Name}' is {input.Type}; it must be bool.");
                    useCacheRank = input.Dims.Length;
                    continue;
            }
            states.Add(State(input, outputByName, Bad));
        }
        return new DecoderContract(ids!, mask, positions, new DecoderInput("logits", logits.Type), logits.Dims.Length, states, seqlens, total, totalRank,
            logits.Dims.Length == 3 && logits.Dims[2] > 0 ? logits.Dims[2] : -1, useCache, useCacheRank);
    }

    private static DecoderState State((string Name, TensorElementType Type, int[] Dims) input,
        Dictionary<string, (string Name, TensorElementType Type, int[] Dims)> outputs, Func<string, ModelCompilerException> bad)
    {
        var name = input.Name;
        string output;
        DecoderStateKind kind;
        int layer;
        if (OptimumKv().Match(name) is { Success: true } m1)
            (output, kind, layer) = ($"present.{m1.Groups[1].Value}.{m1.Groups[2].Value}", m1.Groups[2].Value == "key" ? DecoderStateKind.Key : DecoderStateKind.Value, int.Parse(m1.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        else if (DottedKv().Match(name) is { Success: true } m2)
            (output, kind, layer) = ($"present.{m2.Groups[1].Value}.{m2.Groups[2].Value}", m2.Groups[2].Value == "key" ? DecoderStateKind.Key : DecoderStateKind.Value, int.Parse(m2.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        else if (PackedKv().Match(name) is { Success: true } m3)
            (output, kind, layer) = ($"present_{m3.Groups[1].Value}", DecoderStateKind.PackedKv, int.Parse(m3.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        else if (OtherState().Match(name) is { Success: true } m4)
            (output, kind, layer) = ("present" + name["past".Length..], DecoderStateKind.State, int.Parse(m4.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        else
            throw bad($"the graph's required input '{name}' is not one a decoder contract can feed (input_ids, attention_mask, position_ids, past KV or state inputs with a matching present output, seqlens_k, total_sequence_length, use_cache_branch).");
        if (!outputs.TryGetValue(output, out var o))
            throw bad($"the graph's state input '{name}' has no matching output '{output}' to carry between steps.");
        if (input.Type is not (TensorElementType.Float or TensorElementType.Float16 or TensorElementType.BFloat16))
            throw bad($"state input '{name}' is {input.Type}; states must be float32, float16 or bfloat16.");
        if (o.Type != input.Type)
            throw bad($"state input '{name}' is {input.Type} but its output '{output}' is {o.Type}.");

        var (rank, batchAxis, seqAxis) = kind switch
        {
            DecoderStateKind.Key or DecoderStateKind.Value => (4, 0, (int?)2),
            DecoderStateKind.PackedKv => (5, 1, (int?)3),
            _ => (input.Dims.Length, 0, (int?)null),
        };
        if (input.Dims.Length != rank)
            throw bad(kind == DecoderStateKind.PackedKv
                ? $"packed KV input '{name}' must be [2, batch, kv_heads, past, head_dim], not rank {input.Dims.Length}."
                : $"KV input '{name}' must be [batch, kv_heads, past, head_dim], not rank {input.Dims.Length}.");
        if (rank == 0) throw bad($"state input '{name}' is a scalar; a state has a batch axis.");
        var shape = new long[rank];
        for (var a = 0; a < rank; a++)
        {
            if (a == batchAxis) shape[a] = 1;
            else if (a == seqAxis) shape[a] = 0;
            else if (kind == DecoderStateKind.PackedKv && a == 0) shape[a] = 2;
            else if (input.Dims[a] > 0) shape[a] = input.Dims[a];
            else throw bad($"state input '{name}' has a symbolic dimension {a}; only batch{(seqAxis is null ? "" : " and past length")} may vary.");
        }
        return new DecoderState(name, output, input.Type, kind, layer, shape, seqAxis, batchAxis);
    }
}

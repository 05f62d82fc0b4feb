using Microsoft.ML.OnnxRuntime.Tensors;

namespace ModelCompiler.Runtime;

/// <summary>What a decoder graph input carries on each step.</summary>
public enum DecoderInputKind
{
    /// <summary>The new token ids, [1, n].</summary>
    InputIds,

    /// <summary>Ones over past and new tokens, [1, past + n].</summary>
    AttentionMask,

    /// <summary>Positions past .. past + n - 1, [1, n].</summary>
    PositionIds,

    /// <summary>GQA's total length - 1 per batch row, int32 [1].</summary>
    SeqlensK,

    /// <summary>GQA's total length, int32 [1] or a scalar.</summary>
    TotalSequenceLength,

    /// <summary>A merged decoder's branch selector, bool [1]: false on the first step (empty cache), true once there is a past.</summary>
    UseCacheBranch,

    /// <summary>A recurrent state (key/value cache or another state): zeros first, then the matching output of the previous step.</summary>
    State,
}

/// <summary>One graph input of a decoder and how generation feeds it.</summary>
/// <param name="Name">The graph input's name.</param>
/// <param name="Kind">What it carries.</param>
/// <param name="ElementType">Its element type (int32 or int64 for ids, mask, positions).</param>
/// <param name="Rank">Its rank in the signature; -1 when unknown. A rank-0 <see cref="DecoderInputKind.TotalSequenceLength"/> is fed as a scalar.</param>
public sealed record DecoderInput(string Name, DecoderInputKind Kind, TensorElementType ElementType, int Rank = -1);

/// <summary>One recurrent state of a decoder: a key or value cache tensor, a packed key/value tensor, or another state.</summary>
/// <param name="Input">The graph input that receives the state.</param>
/// <param name="Output">The graph output that returns the next state.</param>
/// <param name="ElementType">Its element type, for example float16 for an fp16 key/value cache.</param>
/// <param name="InitialShape">The shape fed (as zeros) on the first step, for batch 1 and past length 0.</param>
/// <param name="SequenceAxis">The axis that grows with each step, or <see langword="null"/> for a state of fixed shape.</param>
public sealed record DecoderState(string Input, string Output, TensorElementType ElementType, long[] InitialShape, int? SequenceAxis);

/// <summary>How to drive one decoder graph step by step; the generated wrapper builds it from the manifest's <c>decoder</c> object.</summary>
public sealed class DecoderContract
{
    /// <summary>Describes a decoder.</summary>
    /// <param name="inputs">Every graph input, in graph order.</param>
    /// <param name="states">Every recurrent state, in graph order; each <see cref="DecoderInputKind.State"/> input names one.</param>
    /// <param name="logitsName">The logits output, [batch, sequence, vocabulary].</param>
    /// <param name="logitsType">Its element type: float32, float16 or bfloat16.</param>
    /// <param name="eosTokenIds">Tokens that end generation.</param>
    /// <param name="maxPositions">The longest sequence the model can position, or <see langword="null"/> when unknown.</param>
    public DecoderContract(
        IReadOnlyList<DecoderInput> inputs,
        IReadOnlyList<DecoderState> states,
        string logitsName,
        TensorElementType logitsType,
        IReadOnlyList<long> eosTokenIds,
        long? maxPositions = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(states);
        ArgumentNullException.ThrowIfNull(logitsName);
        ArgumentNullException.ThrowIfNull(eosTokenIds);
        Inputs = inputs.ToArray();
        States = states.ToArray();
        LogitsName = logitsName;
        LogitsType = logitsType;
        EosTokenIds = eosTokenIds.ToArray();
        MaxPositions = maxPositions;

        var stateIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < States.Count; i++)
        {
            stateIndex.Add(States[i].Input, i);
        }

        StateSlots = new int[Inputs.Count];
        for (int i = 0; i < Inputs.Count; i++)
        {
            var input = Inputs[i];
            if (input.Kind == DecoderInputKind.State)
            {
                StateSlots[i] = stateIndex.TryGetValue(input.Name, out int s)
                    ? s
                    : throw new ArgumentException($"State input '{input.Name}' has no entry in the states.", nameof(states));
            }
            else
            {
                StateSlots[i] = -1;
            }
        }

        if (!Inputs.Any(i => i.Kind == DecoderInputKind.InputIds))
        {
            throw new ArgumentException("A decoder needs an input_ids input.", nameof(inputs));
        }

        InputNames = Inputs.Select(i => i.Name).ToArray();
        OutputNames = new[] { logitsName }.Concat(States.Select(s => s.Output)).ToArray();
    }

    /// <summary>Every graph input, in graph order.</summary>
    public IReadOnlyList<DecoderInput> Inputs { get; }

    /// <summary>Every recurrent state, in graph order.</summary>
    public IReadOnlyList<DecoderState> States { get; }

    /// <summary>The logits output.</summary>
    public string LogitsName { get; }

    /// <summary>The logits' element type.</summary>
    public TensorElementType LogitsType { get; }

    /// <summary>Tokens that end generation (the manifest's <c>eos_token_ids</c>).</summary>
    public IReadOnlyList<long> EosTokenIds { get; }

    /// <summary>The longest sequence the model can position, or <see langword="null"/>.</summary>
    public long? MaxPositions { get; }

    internal int[] StateSlots { get; }

    internal string[] InputNames { get; }

    internal string[] OutputNames { get; }
}

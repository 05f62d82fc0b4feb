using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using ModelCompiler.Decoding;

namespace ModelCompiler.Runtime;

/// <summary>
/// Runs a decoder language model exported in the Optimum decoder-with-past layout (input_ids, optional
/// attention_mask / position_ids, past_key_values.{i}.key|value → logits, present.{i}.key|value) on ONNX Runtime.
/// </summary>
public sealed class DecoderSession : IDisposable
{
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly string[] _outputNames;

    public DecoderSession(string modelPath, SessionOptions? options = null, IReadOnlyList<string>? extraOutputs = null)
        : this(modelPath, () => options is null ? new InferenceSession(modelPath) : new InferenceSession(modelPath, options), extraOutputs)
    {
    }

    /// <summary>
    /// A session on a serialized model whose external data lies in <paramref name="externalDataFolder"/> (the model's
    /// tensors refer to files there: ORT reads the weights from disk, not from the bytes given).
    /// <paramref name="modelPath"/> names the model in errors.
    /// </summary>
    public DecoderSession(byte[] model, string modelPath, string externalDataFolder, SessionOptions options, IReadOnlyList<string>? extraOutputs = null)
        : this(modelPath, () =>
        {
            options.AddSessionConfigEntry("session.model_external_initializers_file_folder_path", externalDataFolder);
            return new InferenceSession(model, options);
        }, extraOutputs)
    {
    }

    private DecoderSession(string modelPath, Func<InferenceSession> open, IReadOnlyList<string>? extraOutputs)
    {
        ModelPath = modelPath;
        try
        {
            _session = open();
        }
        catch (OnnxRuntimeException e) when (e.Message.Contains("Protobuf parsing failed", StringComparison.OrdinalIgnoreCase)
                                              || e.Message.Contains("InvalidProtobuf", StringComparison.OrdinalIgnoreCase))
        {
            throw new ModelCompilerException("MC1002", "not a valid ONNX model (truncated or corrupt protobuf).", Path.GetFullPath(modelPath), inner: e);
        }
        catch (OnnxRuntimeException e) when (!RuntimeSideErrors.Any(c => e.Message.Contains($"[ErrorCode:{c}]", StringComparison.Ordinal)))
        {
            // The graph itself is refused (invalid graph, type or shape inference, unknown op, bad attribute): bad input.
            // ORT's C# API keeps its ErrorCode internal; the message starts with "[ErrorCode:Name]".
            throw new ModelCompilerException("MC1047", $"ONNX Runtime refuses the model: {e.Message.ReplaceLineEndings(" ").Trim()}", Path.GetFullPath(modelPath), inner: e);
        }
        catch (OnnxRuntimeException e)
        {
            throw new ModelCompilerException("MC3001", $"ONNX Runtime could not load the model: {e.Message}", Path.GetFullPath(modelPath), inner: e);
        }

        Contract = Decoding.DecoderContract.Of(_session, modelPath);
        HasAttentionMask = Contract.AttentionMask is not null;
        HasPositionIds = Contract.PositionIds is not null;
        Layers = Contract.Layers;
        if (Contract.FirstKv is { } kv)
        {
            var offset = kv.Kind == DecoderStateKind.PackedKv ? 1 : 0;
            KvHeads = (int)kv.InitialShape[1 + offset];
            HeadDim = (int)kv.InitialShape[3 + offset];
        }
        VocabSize = (int)Contract.VocabSize;

        var outputs = new List<string> { "logits" };
        outputs.AddRange(Contract.States.Select(st => st.Output));
        if (extraOutputs is not null) outputs.AddRange(extraOutputs);
        _outputNames = outputs.ToArray();
        ExtraOutputs = extraOutputs ?? [];
        MaxPositions = _session.ModelMetadata.CustomMetadataMap.TryGetValue(Import.Llama2cImporter.MetadataKeys.MaxPositions, out var mp)
                       && int.TryParse(mp, System.Globalization.CultureInfo.InvariantCulture, out var n) && n > 0 ? n : null;
    }

    /// <summary>The decoder interface read from the graph.</summary>
    public Decoding.DecoderContract Contract { get; }

    /// <summary>ORT error codes at session creation that are the machine's or the runtime's fault, not the model's.</summary>
    private static readonly string[] RuntimeSideErrors = ["EPFail", "EngineError", "RuntimeException"];

    /// <summary>The longest sequence (past + new tokens) the model can position, when its metadata says.</summary>
    public int? MaxPositions { get; private set; }

    /// <summary>Takes <paramref name="contextLength"/> (a config's context length) as the limit when the metadata sets none.</summary>
    public void LimitPositions(int? contextLength)
    {
        if (MaxPositions is null && contextLength is > 0) MaxPositions = contextLength;
    }

    public string ModelPath { get; }
    public InferenceSession Session => _session;
    public bool HasAttentionMask { get; }
    public bool HasPositionIds { get; }
    public int Layers { get; }
    public int KvHeads { get; }
    public int HeadDim { get; }
    /// <summary>Vocabulary size from the logits' last dimension, or -1 when it is symbolic.</summary>
    public int VocabSize { get; }
    public IReadOnlyList<string> ExtraOutputs { get; }

    /// <summary>
    /// Runs <paramref name="tokens"/> (batch 1) after the tokens already in <paramref name="cache"/> (null: no past).
    /// The result owns the outputs; with a cache, the cache takes the new present tensors.
    /// </summary>
    public DecoderStep Run(ReadOnlySpan<long> tokens, KvCache? cache = null) => Run(tokens, 1, cache);

    /// <summary>
    /// Runs <paramref name="batch"/> sequences of equal length at once: <paramref name="tokens"/> is row-major
    /// [batch, length], after the tokens already in <paramref name="cache"/> (which then holds all rows).
    /// Rows do not see each other; logits are [batch, length, vocab] (<see cref="DecoderStep.LogitsAt(int, int)"/>).
    /// </summary>
    public DecoderStep Run(ReadOnlySpan<long> tokens, int batch, KvCache? cache = null)
    {
        if (tokens.Length == 0) throw new ArgumentException("at least one token is needed", nameof(tokens));
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        if (tokens.Length % batch != 0) throw new ArgumentException($"{tokens.Length} tokens do not split into {batch} rows of equal length", nameof(tokens));
        if (cache is not null && Layers == 0)
            throw new InvalidOperationException("this model has no past/state inputs, so there is no KV cache to carry; run the whole sequence instead.");
        if (cache is { Length: > 0 } && cache.Batch != batch)
            throw new ArgumentException($"the cache holds {cache.Batch} rows, not {batch}", nameof(batch));
        var past = cache?.Length ?? 0;
        var seq = tokens.Length / batch;
        if (past + seq > MaxPositions)
            throw new ModelCompilerException("MC1043",
                $"{past + seq} tokens exceed the model's maximum sequence length {MaxPositions}; use a shorter context or fewer new tokens.", Path.GetFullPath(ModelPath));
        var names = new List<string>(3 + 2 * Layers);
        var values = new List<OrtValue>(3 + 2 * Layers);
        var owned = new List<OrtValue>();
        try
        {
            OrtValue Own(OrtValue v) { owned.Add(v); return v; }

            OrtValue Index(Decoding.DecoderInput input, long[] data, long[] shape) => Own(input.Type == TensorElementType.Int32
                ? OrtValue.CreateTensorValueFromMemory(Array.ConvertAll(data, v => checked((int)v)), shape)
                : OrtValue.CreateTensorValueFromMemory(data, shape));

            names.Add(Contract.InputIds.Name);
            values.Add(Index(Contract.InputIds, tokens.ToArray(), [batch, seq]));
            if (Contract.AttentionMask is { } maskInput)
            {
                var mask = new long[batch * (past + seq)];
                Array.Fill(mask, 1L);
                names.Add(maskInput.Name);
                values.Add(Index(maskInput, mask, [batch, past + seq]));
            }
            if (Contract.PositionIds is { } positionInput)
            {
                var pos = new long[batch * seq];
                for (var i = 0; i < pos.Length; i++) pos[i] = past + i % seq;
                names.Add(positionInput.Name);
                values.Add(Index(positionInput, pos, [batch, seq]));
            }
            if (Contract.SeqlensK is { } seqlens)
            {
                var lengths = new int[batch];
                Array.Fill(lengths, past + seq - 1);
                names.Add(seqlens.Name);
                values.Add(Own(OrtValue.CreateTensorValueFromMemory(lengths, [batch])));
            }
            if (Contract.TotalSequenceLength is { } total)
            {
                names.Add(total.Name);
                values.Add(Own(OrtValue.CreateTensorValueFromMemory(new[] { past + seq }, Contract.TotalSequenceLengthRank == 0 ? [] : [1L])));
            }
            if (Contract.UseCacheBranch is { } useCache)
            {
                // A merged decoder: its no-past branch from an empty cache (past fed zero-length), its with-past branch after.
                names.Add(useCache.Name);
                values.Add(Own(OrtValue.CreateTensorValueFromMemory(new[] { past > 0 }, Contract.UseCacheBranchRank == 0 ? [] : [1L])));
            }
            for (var i = 0; i < Contract.States.Count; i++)
            {
                var state = Contract.States[i];
                names.Add(state.Input);
                if (cache is { Length: > 0 }) values.Add(cache.Get(i));
                else
                {
                    var zeros = Own(OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, state.Type, state.ShapeFor(batch)));
                    zeros.GetTensorMutableRawData().Clear();
                    values.Add(zeros);
                }
            }

            IDisposableReadOnlyCollection<OrtValue> outputs;
            try
            {
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                outputs = _session.Run(_runOptions, names, values, _outputNames);
                ForwardTime.Add(System.Diagnostics.Stopwatch.GetTimestamp() - started);
            }
            catch (OnnxRuntimeException e)
            {
                throw new ModelCompilerException("MC3001", $"ONNX Runtime failed to run the model: {e.Message.ReplaceLineEndings(" ").Trim()}", Path.GetFullPath(ModelPath), inner: e);
            }
            // Inputs are bound by now; replacing the cache frees the previous step's tensors only after the run.
            if (cache is not null) cache.Replace(outputs, past + seq, batch);
            return new DecoderStep(outputs, batch, seq, Contract.States.Count, owned: cache is null);
        }
        finally
        {
            foreach (var v in owned) v.Dispose();
        }
    }

    public void Dispose()
    {
        _runOptions.Dispose();
        _session.Dispose();
    }
}

/// <summary>
/// The outputs of one <see cref="DecoderSession.Run"/>: logits [seq, vocab] plus any extra outputs.
/// When the run used a <see cref="KvCache"/>, the cache owns the outputs and they stay valid until the
/// next run with that cache; otherwise disposing the step frees them.
/// </summary>
public sealed class DecoderStep : IDisposable
{
    private readonly IDisposableReadOnlyCollection<OrtValue> _outputs;
    private readonly int _states;
    private readonly bool _owned;
    private float[]? _converted;

    internal DecoderStep(IDisposableReadOnlyCollection<OrtValue> outputs, int batch, int sequenceLength, int states, bool owned)
    {
        _outputs = outputs;
        _states = states;
        _owned = owned;
        Batch = batch;
        SequenceLength = sequenceLength;
        VocabSize = (int)outputs[0].GetTensorTypeAndShape().Shape[^1];
    }

    public int Batch { get; }
    public int SequenceLength { get; }
    public int VocabSize { get; }

    /// <summary>Logits of all positions, row-major [batch, sequence_length, vocab].</summary>
    /// <remarks>fp16 and bf16 logits are converted to fp32 once, on first access.</remarks>
    public ReadOnlySpan<float> Logits => _outputs[0].GetTensorTypeAndShape().ElementDataType switch
    {
        TensorElementType.Float16 => _converted ??= ToFloat(_outputs[0].GetTensorDataAsSpan<Float16>(), h => h.ToFloat()),
        TensorElementType.BFloat16 => _converted ??= ToFloat(_outputs[0].GetTensorDataAsSpan<BFloat16>(), h => h.ToFloat()),
        _ => _outputs[0].GetTensorDataAsSpan<float>(),
    };

    private static float[] ToFloat<T>(ReadOnlySpan<T> values, Func<T, float> convert)
    {
        var result = new float[values.Length];
        for (var i = 0; i < result.Length; i++) result[i] = convert(values[i]);
        return result;
    }

    public ReadOnlySpan<float> LogitsAt(int position) => LogitsAt(0, position);

    public ReadOnlySpan<float> LogitsAt(int row, int position) => Logits.Slice((row * SequenceLength + position) * VocabSize, VocabSize);

    /// <summary>The i-th extra output requested when the session was created.</summary>
    public OrtValue Extra(int index) => _outputs[1 + _states + index];

    public void Dispose()
    {
        if (_owned) _outputs.Dispose();
    }
}

/// <summary>Key/value tensors carried between decoding steps: the present.* outputs of the last step.</summary>
public sealed class KvCache : IDisposable
{
    private IDisposableReadOnlyCollection<OrtValue>? _outputs;

    /// <summary>Number of tokens the cache holds (per row).</summary>
    public int Length { get; private set; }

    /// <summary>Number of sequences (rows) the cache holds.</summary>
    public int Batch { get; private set; }

    internal OrtValue Get(int state) => _outputs![1 + state];

    internal void Replace(IDisposableReadOnlyCollection<OrtValue> outputs, int length, int batch)
    {
        _outputs?.Dispose();
        _outputs = outputs;
        Length = length;
        Batch = batch;
    }

    public void Dispose()
    {
        _outputs?.Dispose();
        _outputs = null;
        Length = 0;
        Batch = 0;
    }
}

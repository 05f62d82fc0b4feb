using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

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
    {
        ModelPath = modelPath;
        try
        {
            _session = options is null ? new InferenceSession(modelPath) : new InferenceSession(modelPath, options);
        }
        catch (OnnxRuntimeException e) when (e.Message.Contains("Protobuf parsing failed", StringComparison.OrdinalIgnoreCase)
                                              || e.Message.Contains("InvalidProtobuf", StringComparison.OrdinalIgnoreCase))
        {
            throw new ModelCompilerException("MC1002", "not a valid ONNX model (truncated or corrupt protobuf).", Path.GetFullPath(modelPath), inner: e);
        }
        catch (OnnxRuntimeException e)
        {
            throw new ModelCompilerException("MC3001", $"ONNX Runtime could not load the model: {e.Message}", Path.GetFullPath(modelPath), inner: e);
        }

        var inputs = _session.InputMetadata;
        if (!inputs.ContainsKey("input_ids"))
            throw new ModelCompilerException("MC1040", "not a decoder language model: the graph has no 'input_ids' input.", Path.GetFullPath(modelPath));
        HasAttentionMask = inputs.ContainsKey("attention_mask");
        HasPositionIds = inputs.ContainsKey("position_ids");

        var layers = 0;
        while (inputs.ContainsKey($"past_key_values.{layers}.key")) layers++;
        Layers = layers;
        if (layers > 0)
        {
            var dims = inputs["past_key_values.0.key"].Dimensions;
            KvHeads = dims.Length == 4 && dims[1] > 0 ? dims[1] : throw new ModelCompilerException("MC1040", "past_key_values.0.key must be [batch, kv_heads, past, head_dim] with fixed kv_heads.", Path.GetFullPath(modelPath));
            HeadDim = dims[3] > 0 ? dims[3] : throw new ModelCompilerException("MC1040", "past_key_values.0.key must have a fixed head_dim.", Path.GetFullPath(modelPath));
        }

        var logitsDims = _session.OutputMetadata.TryGetValue("logits", out var lm) ? lm.Dimensions
            : throw new ModelCompilerException("MC1040", "not a decoder language model: the graph has no 'logits' output.", Path.GetFullPath(modelPath));
        VocabSize = logitsDims.Length == 3 ? logitsDims[2] : -1;

        var outputs = new List<string> { "logits" };
        for (var i = 0; i < Layers; i++) outputs.AddRange([$"present.{i}.key", $"present.{i}.value"]);
        if (extraOutputs is not null) outputs.AddRange(extraOutputs);
        _outputNames = outputs.ToArray();
        ExtraOutputs = extraOutputs ?? [];
        MaxPositions = _session.ModelMetadata.CustomMetadataMap.TryGetValue(Import.Llama2cImporter.MetadataKeys.MaxPositions, out var mp)
                       && int.TryParse(mp, System.Globalization.CultureInfo.InvariantCulture, out var n) && n > 0 ? n : null;
    }

    /// <summary>The longest sequence (past + new tokens) the model can position, when its metadata says.</summary>
    public int? MaxPositions { get; }

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
            throw new InvalidOperationException("this model has no past_key_values inputs, so there is no KV cache to carry; run the whole sequence instead.");
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

            names.Add("input_ids");
            values.Add(Own(OrtValue.CreateTensorValueFromMemory(tokens.ToArray(), [batch, seq])));
            if (HasAttentionMask)
            {
                var mask = new long[batch * (past + seq)];
                Array.Fill(mask, 1L);
                names.Add("attention_mask");
                values.Add(Own(OrtValue.CreateTensorValueFromMemory(mask, [batch, past + seq])));
            }
            if (HasPositionIds)
            {
                var pos = new long[batch * seq];
                for (var i = 0; i < pos.Length; i++) pos[i] = past + i % seq;
                names.Add("position_ids");
                values.Add(Own(OrtValue.CreateTensorValueFromMemory(pos, [batch, seq])));
            }
            for (var i = 0; i < Layers; i++)
            {
                foreach (var kind in (ReadOnlySpan<string>)["key", "value"])
                {
                    names.Add($"past_key_values.{i}.{kind}");
                    values.Add(cache is { Length: > 0 }
                        ? cache.Get(i, kind == "key")
                        : Own(OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Float, [batch, KvHeads, 0, HeadDim])));
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
            return new DecoderStep(outputs, batch, seq, Layers, owned: cache is null);
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
    private readonly int _layers;
    private readonly bool _owned;

    internal DecoderStep(IDisposableReadOnlyCollection<OrtValue> outputs, int batch, int sequenceLength, int layers, bool owned)
    {
        _outputs = outputs;
        _layers = layers;
        _owned = owned;
        Batch = batch;
        SequenceLength = sequenceLength;
        VocabSize = (int)outputs[0].GetTensorTypeAndShape().Shape[^1];
    }

    public int Batch { get; }
    public int SequenceLength { get; }
    public int VocabSize { get; }

    /// <summary>Logits of all positions, row-major [batch, sequence_length, vocab].</summary>
    public ReadOnlySpan<float> Logits => _outputs[0].GetTensorDataAsSpan<float>();

    public ReadOnlySpan<float> LogitsAt(int position) => LogitsAt(0, position);

    public ReadOnlySpan<float> LogitsAt(int row, int position) => Logits.Slice((row * SequenceLength + position) * VocabSize, VocabSize);

    /// <summary>The i-th extra output requested when the session was created.</summary>
    public OrtValue Extra(int index) => _outputs[1 + 2 * _layers + index];

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

    internal OrtValue Get(int layer, bool key) => _outputs![1 + 2 * layer + (key ? 0 : 1)];

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

using System.Diagnostics;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using ModelCompiler.Evaluation;
using ModelCompiler.Onnx;
using ModelCompiler.Onnx.Proto;
using ModelCompiler.Quantization;
using ModelCompiler.Runtime;

namespace ModelCompiler.Calibration;

/// <summary>Statistics per layer input, gathered by running the input model (fp32, fp16 or bf16) on calibration tokens.</summary>
public sealed class CalibrationResult
{
    public required IReadOnlyDictionary<string, ActivationStats> ByActivation { get; init; }
    public required int Tokens { get; init; }
    public required int Windows { get; init; }
    public required double Seconds { get; init; }

    public ActivationStats For(QuantizableLayer layer) => ByActivation[layer.ActivationInput];
}

/// <summary>
/// Observes each layer's input activation by exposing it as an extra graph output of a copy of the model
/// and running that copy on ONNX Runtime window by window; only running statistics are kept.
/// </summary>
/// <remarks>
/// A value inside a subgraph cannot be a graph output, so in a merged decoder the copy has its <c>use_cache_branch</c> If
/// replaced by the branch every calibration window takes (no past, see <see cref="LayerDiscovery"/>), inlined: the same
/// nodes computing the same values as the un-merged decoder. The with-past branch's copies of a layer take its statistics.
/// </remarks>
public static class Calibrator
{
    public static CalibrationResult Run(ModelProto fp32, IReadOnlyList<QuantizableLayer> layers, TokenStream tokens, int context,
        string workDir, IProgress<EvaluationProgress>? progress = null, string? externalDataFolder = null)
    {
        var activations = layers.Select(l => l.ActivationInput).Distinct(StringComparer.Ordinal).ToList();
        var channels = layers.GroupBy(l => l.ActivationInput).ToDictionary(g => g.Key, g => (int)g.First().InFeatures, StringComparer.Ordinal);

        // Each tap is declared in the type its layer computes in (fp16 in an fp16 export); statistics are kept in fp32.
        var types = layers.GroupBy(l => l.ActivationInput).ToDictionary(g => g.Key, g => g.First().ComputeType, StringComparer.Ordinal);
        var tapped = fp32.Clone();
        InlineNoPastBranches(new OnnxGraph(tapped.Graph), tapped.Graph);
        var graphOutputs = new HashSet<string>(tapped.Graph.Output.Select(o => o.Name), StringComparer.Ordinal);
        foreach (var a in activations.Where(a => !graphOutputs.Contains(a)))
        {
            tapped.Graph.Output.Add(new ValueInfoProto
            {
                Name = a,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)types[a] } },
            });
        }
        var tapPath = Path.Combine(workDir, "calibration.onnx");
        // A model loaded with lazy external data: ORT reads the weights from the original files, nothing is copied.
        var referenced = OnnxModelIO.WithExternalReferences(tapped);
        if (referenced is null) OnnxModelIO.Save(tapped, tapPath);

        var stats = activations.ToDictionary(a => a, a => new ActivationStats(channels[a]), StringComparer.Ordinal);
        var clock = Stopwatch.StartNew();
        using var options = Deterministic.SessionOptions();
        using var session = referenced is null
            ? new DecoderSession(tapPath, options, activations)
            : new DecoderSession(referenced.ToByteArray(), tapPath, externalDataFolder ?? throw new ArgumentNullException(nameof(externalDataFolder)), options, activations);
        var windows = tokens.Windows(context).ToList();
        var total = tokens.PredictedTokens(context);
        var done = 0;
        var seen = 0;
        float[] buffer = [];
        foreach (var window in windows)
        {
            using var step = session.Run(PerplexityEvaluator.ToInt64(window.Tokens.Span));
            for (var i = 0; i < activations.Count; i++)
            {
                if (!stats[activations[i]].Observe(AsFloats(step.Extra(i), activations[i], ref buffer, tokens.SourcePath)))
                    throw new ModelCompilerException("MC1044",
                        $"NaN or infinity in activation '{activations[i]}' during calibration (window {window.Index + 1}); the fp32 model is numerically broken on this text.",
                        tokens.SourcePath);
            }
            done += window.Length - 1;
            seen += window.Length;
            progress?.Report(new EvaluationProgress(window.Index + 1, windows.Count, done, total, clock.Elapsed.TotalSeconds));
        }
        return new CalibrationResult { ByActivation = stats, Tokens = seen, Windows = windows.Count, Seconds = clock.Elapsed.TotalSeconds };
    }

    /// <summary>
    /// Replaces each merged-decoder If in <paramref name="graph"/> (and in the branches it inlines) by its no-past branch:
    /// the branch's nodes and initializers move into the enclosing graph, and an Identity gives each branch output the
    /// If's output name.
    /// </summary>
    internal static void InlineNoPastBranches(OnnxGraph root, GraphProto graph)
    {
        for (var i = 0; i < graph.Node.Count; i++)
        {
            var node = graph.Node[i];
            if (!LayerDiscovery.IsCacheBranchIf(root, node) || node.Attribute.FirstOrDefault(a => a.Name == "else_branch")?.G is not { } branch) continue;
            InlineNoPastBranches(root, branch);
            var inlined = branch.Node.ToList();
            for (var k = 0; k < node.Output.Count && k < branch.Output.Count; k++)
                if (node.Output[k].Length > 0 && node.Output[k] != branch.Output[k].Name)
                    inlined.Add(new NodeProto { OpType = "Identity", Name = $"{node.Name}/else_branch/{branch.Output[k].Name}", Input = { branch.Output[k].Name }, Output = { node.Output[k] } });
            graph.Initializer.AddRange(branch.Initializer);
            graph.ValueInfo.AddRange(branch.ValueInfo);
            graph.Node.RemoveAt(i);
            for (var k = 0; k < inlined.Count; k++) graph.Node.Insert(i + k, inlined[k]);
            i += inlined.Count - 1;
        }
    }

    /// <summary>An observed activation as fp32: float32 as is, float16 and bfloat16 converted into <paramref name="buffer"/>.</summary>
    private static ReadOnlySpan<float> AsFloats(OrtValue value, string name, ref float[] buffer, string? source)
    {
        var type = value.GetTensorTypeAndShape().ElementDataType;
        switch (type)
        {
            case TensorElementType.Float:
                return value.GetTensorDataAsSpan<float>();
            case TensorElementType.Float16:
                return Convert(value.GetTensorDataAsSpan<Float16>(), h => h.ToFloat(), ref buffer);
            case TensorElementType.BFloat16:
                return Convert(value.GetTensorDataAsSpan<BFloat16>(), h => h.ToFloat(), ref buffer);
            default:
                throw new ModelCompilerException("MC1042",
                    $"layer input '{name}' is {type}; INT8 calibration observes float32, float16 or bfloat16 activations.", source);
        }
    }

    private static ReadOnlySpan<float> Convert<T>(ReadOnlySpan<T> values, Func<T, float> convert, ref float[] buffer)
    {
        if (buffer.Length < values.Length) buffer = new float[values.Length];
        for (var i = 0; i < values.Length; i++) buffer[i] = convert(values[i]);
        return buffer.AsSpan(0, values.Length);
    }
}

/// <summary>Session settings that make results reproducible run to run (one intra-op thread: no split reductions).</summary>
public static class Deterministic
{
    public static SessionOptions SessionOptions(string provider = ExecutionProviders.Cpu)
    {
        var o = ExecutionProviders.TryCreate(provider, out var reason)
                ?? throw new ModelCompilerException("MC3003", $"execution provider '{provider}' is unavailable: {reason}.");
        o.IntraOpNumThreads = ComputeThreads.Count; // does not change results: see ComputeThreads
        o.InterOpNumThreads = 1;
        o.ExecutionMode = ExecutionMode.ORT_SEQUENTIAL;
        return o;
    }
}

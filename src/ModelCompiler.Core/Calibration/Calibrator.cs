using System.Diagnostics;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using ModelCompiler.Evaluation;
using ModelCompiler.Onnx;
using ModelCompiler.Onnx.Proto;
using ModelCompiler.Quantization;
using ModelCompiler.Runtime;

namespace ModelCompiler.Calibration;

/// <summary>Statistics per layer input, gathered by running the fp32 model on calibration tokens.</summary>
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
public static class Calibrator
{
    public static CalibrationResult Run(ModelProto fp32, IReadOnlyList<QuantizableLayer> layers, TokenStream tokens, int context,
        string workDir, IProgress<EvaluationProgress>? progress = null, string? externalDataFolder = null)
    {
        var activations = layers.Select(l => l.ActivationInput).Distinct(StringComparer.Ordinal).ToList();
        var channels = layers.GroupBy(l => l.ActivationInput).ToDictionary(g => g.Key, g => (int)g.First().InFeatures, StringComparer.Ordinal);

        var tapped = fp32.Clone();
        var graphOutputs = new HashSet<string>(tapped.Graph.Output.Select(o => o.Name), StringComparer.Ordinal);
        foreach (var a in activations.Where(a => !graphOutputs.Contains(a)))
        {
            tapped.Graph.Output.Add(new ValueInfoProto
            {
                Name = a,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
            });
        }
        var tapPath = Path.Combine(workDir, "calibration.onnx");
        // A model loaded with lazy external data: ORT reads the weights from the original files, nothing is copied.
        var referenced = OnnxModelIO.WithExternalReferences(tapped);
        if (referenced is null) OnnxModelIO.Save(tapped, tapPath);

        var stats = activations.ToDictionary(a => a, a => new ActivationStats(channels[a]), StringComparer.Ordinal);
        var clock = Stopwatch.StartNew();
        using var options = Deterministic.SessionOptions();
        DecoderSession session;
        try
        {
            session = referenced is null
                ? new DecoderSession(tapPath, options, activations)
                : new DecoderSession(referenced.ToByteArray(), tapPath, externalDataFolder ?? throw new ArgumentNullException(nameof(externalDataFolder)), options, activations);
        }
        catch (ModelCompilerException e) when (e.Code == "MC1047")
        {
            // The tap model is modelc's own rewrite of a graph ORT accepted: a refusal is our failure, not the user's.
            throw new ModelCompilerException("MC3001",
                $"ONNX Runtime refused the calibration tap model modelc built ({e.Message}); calibrating fp16/bf16 graphs is not supported yet.", tapPath, inner: e);
        }
        using var _ = session;
        var windows = tokens.Windows(context).ToList();
        var total = tokens.PredictedTokens(context);
        var done = 0;
        var seen = 0;
        foreach (var window in windows)
        {
            using var step = session.Run(PerplexityEvaluator.ToInt64(window.Tokens.Span));
            for (var i = 0; i < activations.Count; i++)
            {
                var value = step.Extra(i);
                if (value.GetTensorTypeAndShape().ElementDataType != Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float)
                    throw new ModelCompilerException("MC1042", $"layer input '{activations[i]}' is not float32; quantize an fp32 model.", tokens.SourcePath);
                if (!stats[activations[i]].Observe(value.GetTensorDataAsSpan<float>()))
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

using System.Diagnostics;
using ModelCompiler.Calibration;
using ModelCompiler.Evaluation;
using ModelCompiler.Onnx;
using ModelCompiler.Policies;
using ModelCompiler.Runtime;
using ModelCompiler.Validation;

namespace ModelCompiler.Compilation;

/// <summary>
/// Measures a set of layers INT8 (all others fp32) against the fp32 model on the first calibration tokens. The
/// fp32 logits are computed once and kept (tokens × vocabulary floats), so each measurement costs one forward
/// pass of the candidate model.
/// </summary>
public sealed class SensitivityProbe : ISensitivityProbe, IDisposable
{
    private readonly CompileState _state;
    private readonly List<long[]> _windows = [];
    private readonly List<float[]> _referenceLogits = [];
    private readonly List<double[]> _referenceLse = [];
    private readonly int _vocab;
    private readonly double _referenceNll;
    private readonly string _folder;
    private int _measurements;

    private SensitivityProbe(CompileState state, TokenStream tokens, int context)
    {
        _state = state;
        _folder = Path.Combine(state.Staging, "probe");
        Directory.CreateDirectory(_folder);
        using var options = Deterministic.SessionOptions();
        using var fp32 = new DecoderSession(state.ModelPath, options);
        _vocab = fp32.VocabSize;
        foreach (var window in tokens.Windows(context))
        {
            var ids = PerplexityEvaluator.ToInt64(window.Tokens.Span);
            using var step = fp32.Run(ids);
            var logits = step.Logits.ToArray();
            var lse = new double[ids.Length - 1];
            for (var t = 0; t < ids.Length - 1; t++)
            {
                lse[t] = PerplexityEvaluator.LogSumExp(logits.AsSpan(t * _vocab, _vocab));
                _referenceNll += lse[t] - logits[t * _vocab + (int)ids[t + 1]];
            }
            _windows.Add(ids);
            _referenceLogits.Add(logits);
            _referenceLse.Add(lse);
        }
        Tokens = _windows.Sum(w => w.Length - 1);
    }

    /// <summary>A probe over the first <paramref name="tokens"/> calibration tokens (at least one window).</summary>
    public static SensitivityProbe Create(CompileState state, int tokens)
    {
        var stream = state.CalibrationTokens;
        var ids = stream.Span[..Math.Min(tokens, stream.Count)].ToArray();
        var context = Math.Min(state.Spec.Calibration.Context.Value, ids.Length);
        state.Reporter.Stage("probe", $"fp32 reference on {ids.Length} calibration tokens");
        return new SensitivityProbe(state, TokenStream.FromTokens(stream.SourcePath, ids), context);
    }

    public int Tokens { get; }

    /// <summary>Forward passes the probe has run, for reports and tests.</summary>
    public int Measurements => _measurements;

    public LayerMeasurement Measure(IReadOnlyCollection<string> int8Layers)
    {
        var names = new HashSet<string>(int8Layers, StringComparer.Ordinal);
        var decisions = _state.Layers.Select(l => new LayerDecision(l, names.Contains(l.Name) ? LayerPrecision.Int8 : LayerPrecision.Fp32, "probe")).ToList();
        var (model, _) = CompileStages.Transform(_state, decisions, stamp: false);
        var path = Path.Combine(_folder, "probe.onnx");
        OnnxModelIO.Save(model, path);
        _measurements++;

        using var options = Deterministic.SessionOptions();
        using var session = new DecoderSession(path, options);
        double nll = 0, kl = 0;
        for (var w = 0; w < _windows.Count; w++)
        {
            var ids = _windows[w];
            using var step = session.Run(ids);
            for (var t = 0; t < ids.Length - 1; t++)
            {
                var (_, nB, k, _) = TokenComparison.Compare(_referenceLogits[w].AsSpan(t * _vocab, _vocab), _referenceLse[w][t], step.LogitsAt(t), (int)ids[t + 1]);
                nll += nB;
                kl += k;
            }
        }
        var delta = (nll - _referenceNll) / Tokens;
        return new LayerMeasurement(100 * (Math.Exp(delta) - 1), kl / Tokens, delta);
    }

    public void Dispose()
    {
        _referenceLogits.Clear();
    }
}

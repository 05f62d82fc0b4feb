using System.Globalization;
using ModelCompiler.Calibration;
using ModelCompiler.Policies;
using ModelCompiler.Runtime;
using ModelCompiler.Spec;
using ModelCompiler.Transforms;
using ModelCompiler.Validation;

namespace ModelCompiler.Compilation;

/// <summary>A gate that did not hold, with the spec position of its limit.</summary>
public sealed record GateResult(string Name, string Code, double Limit, double Measured, bool Passed, string? Provider, SpecLocation Location, string Message);

/// <summary>One try of the closed loop: which layers were moved back to the fallback precision and what validation measured.</summary>
public sealed record FallbackStep(int Step, IReadOnlyList<string> MovedBack, int Int8Layers, double PerplexityIncreasePct, bool Passed, string? FailedGate);

/// <summary>Input file fingerprint for the manifest.</summary>
public sealed record InputFile(string Role, string Path, string Sha256);

public sealed record CompileResult
{
    public required QuantizationSpec Spec { get; init; }
    public required CompileOptions Options { get; init; }
    public required IReadOnlyList<InputFile> Inputs { get; init; }
    public required ModelSignature Signature { get; init; }
    public required IReadOnlyList<LayerDecision> Decisions { get; init; }
    public required IReadOnlyDictionary<string, ActivationSummary> Statistics { get; init; }
    /// <summary>What each policy read per layer (statistics, weight statistics, role, depth), in layer order.</summary>
    public IReadOnlyList<LayerCandidate> Candidates { get; init; } = [];
    /// <summary>The per-layer plot beside the report (file name), or null when it could not be drawn.</summary>
    public string? LayerPlotFile { get; init; }
    public required IReadOnlyDictionary<string, QdqInt8Transform.Int8LayerInfo> Int8 { get; init; }
    public required CalibrationResult Calibration { get; init; }
    public required IReadOnlyList<ProviderValidation> Providers { get; init; }
    public required IReadOnlyList<GateResult> Gates { get; init; }
    public required string OutputModelSha256 { get; init; }
    public required string? ExternalDataFile { get; init; }
    public required string? TokenizerFile { get; init; }
    public required long Fp32WeightBytes { get; init; }
    public required long QuantizedWeightBytes { get; init; }
    public required int EvaluationTokens { get; init; }
    /// <summary>INT8 layers ORT's CPU optimizer turned into integer kernels (null when not checked).</summary>
    public int? Int8FusedOnCpu { get; init; }
    /// <summary>The closed loop's steps (gates.on_fail: fallback), empty when it did not run.</summary>
    public IReadOnlyList<FallbackStep> FallbackSteps { get; init; } = [];
    /// <summary>Seconds per stage. Not written to the manifest (timings differ run to run).</summary>
    public required IReadOnlyList<(string Stage, double Seconds)> Timings { get; init; }
    /// <summary>Peak resident bytes of each stage, in stage order (a stage that ran twice appears twice). Not in the manifest.</summary>
    public IReadOnlyList<(string Stage, long Bytes)> StagePeakRss { get; init; } = [];
    /// <summary>The compile's peak resident bytes: the highest stage peak (or null where none was measured).</summary>
    public long? PeakRssBytes => StagePeakRss.Count > 0 ? StagePeakRss.Max(p => p.Bytes) : null;

    public bool Passed => Gates.All(g => g.Passed);
    public double Int8ParameterFraction
    {
        get
        {
            var total = Decisions.Sum(d => (double)d.Layer.Parameters);
            return total > 0 ? Decisions.Where(d => d.Precision == LayerPrecision.Int8).Sum(d => (double)d.Layer.Parameters) / total : 0;
        }
    }
    public int Int8Layers => Decisions.Count(d => d.Precision == LayerPrecision.Int8);
    /// <summary>INT8 MatMul/Gemm nodes: one per INT8 layer plus its copies (a merged decoder's with-past branch); what <see cref="Int8FusedOnCpu"/> counts.</summary>
    public int Int8Nodes => Decisions.Where(d => d.Precision == LayerPrecision.Int8).Sum(d => 1 + d.Layer.Copies.Count);
}

/// <summary>
/// spec + model → calibrate → decide → transform → validate → gate → (quantized model, manifest, report), as the
/// stages of <see cref="CompileStages"/> over one <see cref="CompileState"/>. Outputs are staged in a temporary
/// folder beside the output and moved into place only at the end, so a failure leaves nothing half-written.
/// </summary>
public static class QuantizationCompiler
{
    public static CompileResult Compile(CompileOptions options, ICompileReporter reporter)
    {
        var state = CompileStages.Load(options, reporter);
        try
        {
            CompileStages.Tokens(state);
            CompileStages.Calibrate(state);
            CompileStages.Decide(state);
            var attempt = CompileStages.TransformAndValidate(state, state.Decisions, "compile");
            if (!attempt.Result.Passed && state.Spec.Gates.OnFail.Value == GateFailureAction.Fallback)
                attempt = ClosedLoop.Run(state, attempt);
            return CompileStages.Write(state, attempt);
        }
        finally
        {
            state.Dispose();
        }
    }

    public static string ProviderName(ExecutionProviderKind kind) => kind == ExecutionProviderKind.Cuda ? ExecutionProviders.Cuda : ExecutionProviders.Cpu;
}

public static class ToolInfo
{
    public static string Version { get; } =
        typeof(ToolInfo).Assembly.GetName().Version is { } v ? v.ToString(3) : "0.0.0";

    public static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}

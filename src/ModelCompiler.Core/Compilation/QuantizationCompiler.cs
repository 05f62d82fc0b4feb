using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using ModelCompiler.Calibration;
using ModelCompiler.Evaluation;
using ModelCompiler.Import;
using ModelCompiler.Onnx;
using ModelCompiler.Onnx.Proto;
using ModelCompiler.Policies;
using ModelCompiler.Quantization;
using ModelCompiler.Runtime;
using ModelCompiler.Spec;
using ModelCompiler.Tokenization;
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

    /// <summary>Per-channel DequantizeLinear (the axis attribute) exists from opset 13 on.</summary>
    internal static void RequireOpsetForInt8(ModelProto model, bool anyInt8, string modelPath)
    {
        if (!anyInt8) return;
        var opset = model.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx")?.Version ?? 0;
        if (opset < 13)
            throw new ModelCompilerException("MC1045",
                $"the model uses ONNX opset {opset}; INT8 with per-channel weights needs opset 13 or later. Re-export it with opset ≥ 13 (e.g. optimum-cli export onnx --opset 17), or use policy 'none'.", modelPath);
    }

    public static string ProviderName(ExecutionProviderKind kind) => kind == ExecutionProviderKind.Cuda ? ExecutionProviders.Cuda : ExecutionProviders.Cpu;

    internal static TokenStream Tokens(TokenDataSpec data, string role, Func<SpecLocation, ITokenizer> tokenizer, List<InputFile> inputs, List<string> deps,
        string modelPath, string staging, QuantizationSpec spec, ICompileReporter reporter)
    {
        switch (data.Source)
        {
            case TextSourceSpec text:
                var stream = TokenStream.Load(text.Text.FullPath, tokenizer(text.Location), data.MaxTokens.Value);
                inputs.Add(Fingerprint(role + "_text", text.Text.FullPath, spec.SpecPath));
                deps.Add(text.Text.FullPath);
                if (stream.PredictedTokens(data.Context.Value) == 0)
                    throw new ModelCompilerException("MC1032", $"the {role} text gives fewer than 2 tokens.", text.Text.FullPath);
                return stream;
            case GeneratedSourceSpec generated:
                var count = Math.Min(generated.Tokens.Value, data.MaxTokens.Value);
                reporter.Stage(role, $"sampling {count} tokens from the fp32 model (seed {generated.Seed.Value})");
                return GeneratedTokens.Sample(modelPath, count, data.Context.Value, generated.Seed.Value, role);
            default:
                throw new InvalidOperationException(data.Source.GetType().Name);
        }
    }

    internal static string? ResolveTokenizer(QuantizationSpec spec, ModelProto model, string modelPath)
    {
        var fromSpec = spec.Calibration.Tokenizer ?? spec.Evaluation.Tokenizer;
        if (fromSpec is not null) return fromSpec.FullPath;
        var meta = model.MetadataProps.ToDictionary(m => m.Key, m => m.Value, StringComparer.Ordinal);
        return ModelTokenizer.FindBeside(modelPath, meta);
    }

    internal static long LogitsVocabulary(ModelProto model)
    {
        var logits = model.Graph.Output.FirstOrDefault(o => o.Name == "logits")
            ?? throw new ModelCompilerException("MC1040", "not a decoder language model: the graph has no 'logits' output (modelc compile validates by perplexity).", null);
        var dims = logits.Type?.TensorType?.Shape?.Dim;
        return dims is { Count: 3 } && dims[2].ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? dims[2].DimValue : -1;
    }

    internal static void StampMetadata(ModelProto model, string? tokenizerFile, QuantizationSpec spec)
    {
        void Set(string key, string? value)
        {
            for (var i = model.MetadataProps.Count - 1; i >= 0; i--)
                if (model.MetadataProps[i].Key == key) model.MetadataProps.RemoveAt(i);
            if (value is not null) model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        }
        Set(Llama2cImporter.MetadataKeys.Tokenizer, tokenizerFile);
        Set("modelcompiler.quantization", $"policy={spec.Policy.Kind};fallback={spec.Fallback.Value.ToString().ToLowerInvariant()};scheme=qdq-u8s8-per-channel");
        model.ProducerName = "modelc";
        model.ProducerVersion = ToolInfo.Version;
    }

    internal static long WeightBytes(ModelProto model) => model.Graph.Initializer.Sum(t => (long)t.RawData.Length);

    internal static InputFile Fingerprint(string role, string path, string relativeTo)
    {
        var baseDir = Path.GetDirectoryName(Path.GetFullPath(relativeTo))!;
        var rel = Path.GetRelativePath(baseDir, path).Replace('\\', '/');
        return new InputFile(role, rel, Sha256(path));
    }

    internal static string Sha256(string path)
    {
        using var s = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(s));
    }
}

public static class ToolInfo
{
    public static string Version { get; } =
        typeof(ToolInfo).Assembly.GetName().Version is { } v ? v.ToString(3) : "0.0.0";

    public static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}

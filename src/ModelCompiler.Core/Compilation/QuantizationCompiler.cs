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
/// spec + model → calibrate → decide → transform → validate → (quantized model, manifest, report).
/// Outputs are staged in a temporary folder beside the output and moved into place only at the end, so a
/// failure leaves nothing half-written at the output paths.
/// </summary>
public static class QuantizationCompiler
{
    public static CompileResult Compile(CompileOptions options, ICompileReporter reporter)
    {
        var timings = new List<(string, double)>();
        var clock = Stopwatch.StartNew();
        void Lap(string stage) { timings.Add((stage, clock.Elapsed.TotalSeconds)); clock.Restart(); }

        // 1. Inputs.
        reporter.Stage("spec", options.SpecPath);
        var loaded = SpecLoader.Load(options.SpecPath);
        foreach (var w in loaded.Warnings) reporter.Warning(w.ToDiagnosticString());
        var spec = loaded.Spec;
        var modelPath = Path.GetFullPath(options.ModelPath);
        var outputPath = Path.GetFullPath(options.OutputPath);
        if (string.Equals(modelPath, outputPath, OperatingSystem.IsLinux() ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase))
            throw new ModelCompilerException("MC1007", "--output must differ from --model; modelc never overwrites its input.", outputPath);

        reporter.Stage("load", modelPath);
        var externalData = new List<string>();
        var fp32 = OnnxModelIO.Load(modelPath, externalData);
        var fp32Graph = new OnnxGraph(fp32.Graph);
        var layers = LayerDiscovery.Find(fp32Graph);
        if (layers.Count == 0)
            throw new ModelCompilerException("MC1041", "the model has no quantizable layer (no MatMul/Gemm with a constant 2-D weight).", modelPath);
        // The current policies decide from names alone, so bad combinations fail before calibration runs.
        var decisions = LayerPolicy.Decide(spec.Policy, spec.Fallback.Value, layers);
        RequireOpsetForInt8(fp32, decisions, modelPath);
        var vocab = LogitsVocabulary(fp32);
        if (fp32.MetadataProps.FirstOrDefault(m => m.Key == Llama2cImporter.MetadataKeys.MaxPositions) is { } mp && int.TryParse(mp.Value, CultureInfo.InvariantCulture, out var maxPositions))
        {
            foreach (var (role, data) in new[] { ("calibration", spec.Calibration), ("evaluation", spec.Evaluation) })
                if (data.Context.Value > maxPositions)
                    throw data.Context.Location.Error("MC1043", $"{role} context {data.Context.Value} exceeds the model's maximum sequence length {maxPositions}; lower '{role}.context'.");
        }

        var inputs = new List<InputFile> { Fingerprint("model", modelPath, modelPath), Fingerprint("spec", spec.SpecPath, spec.SpecPath) };
        var depFiles = new List<string> { modelPath, spec.SpecPath };
        depFiles.AddRange(externalData);
        inputs.AddRange(externalData.Select(f => Fingerprint("model_data", f, modelPath)));

        var tokenizerPath = ResolveTokenizer(spec, fp32, modelPath);
        ITokenizer? tokenizer = null;
        ITokenizer Tokenizer(SpecLocation where)
        {
            if (tokenizer is not null) return tokenizer;
            if (tokenizerPath is null)
                throw new ModelCompilerException(TokenizationErrors.TokenizerNotFound,
                    "a text source needs a tokenizer: none is stored beside the model; add 'tokenizer: path' under calibration.", where.File, where.Line, where.Column);
            tokenizer = TokenizerLoader.Load(tokenizerPath, vocab > 0 ? (int)vocab : null);
            if (vocab > 0 && tokenizer.VocabularySize != vocab)
                throw new ModelCompilerException(TokenizationErrors.TokenizerVocabularyMismatch,
                    $"the tokenizer has {tokenizer.VocabularySize} tokens but the model's logits have {vocab}; use the model's own tokenizer.", tokenizerPath);
            inputs.Add(Fingerprint("tokenizer", tokenizerPath, spec.SpecPath));
            depFiles.Add(tokenizerPath);
            return tokenizer;
        }

        var staging = Path.Combine(Path.GetDirectoryName(outputPath)!, $".modelc-{Path.GetFileName(outputPath)}-{Guid.NewGuid():N}"[..^20]);
        Directory.CreateDirectory(staging);
        try
        {
            reporter.Stage("tokens", "calibration and evaluation data");
            var calibration = Tokens(spec.Calibration, "calibration", Tokenizer, inputs, depFiles, modelPath, staging, spec, reporter);
            var evaluation = Tokens(spec.Evaluation, "evaluation", Tokenizer, inputs, depFiles, modelPath, staging, spec, reporter);
            Lap("load");

            // 2. Calibration.
            reporter.Stage("calibrate", $"{layers.Count} layers, {calibration.Count} tokens");
            var calib = Calibrator.Run(fp32, layers, calibration, spec.Calibration.Context.Value, staging, reporter.Progress("calibrate"));
            Lap("calibrate");

            // 3. Transform as decided.
            reporter.Stage("transform", $"{decisions.Count(d => d.Precision == LayerPrecision.Int8)} INT8, {decisions.Count(d => d.Precision == LayerPrecision.Fp16)} FP16, {decisions.Count(d => d.Precision == LayerPrecision.Fp32)} FP32");
            var quantized = fp32.Clone();
            var qGraph = new OnnxGraph(quantized.Graph);
            var qLayers = LayerDiscovery.Find(qGraph).ToDictionary(l => l.Name, StringComparer.Ordinal);
            var int8 = QdqInt8Transform.Apply(qGraph, decisions.Where(d => d.Precision == LayerPrecision.Int8).Select(d => qLayers[d.Layer.Name]), calib);
            Fp16Transform.Apply(qGraph, decisions.Where(d => d.Precision == LayerPrecision.Fp16).Select(d => qLayers[d.Layer.Name]));
            GraphCleanup.Run(qGraph);
            StampMetadata(quantized, tokenizerPath is null ? null : Path.GetFileNameWithoutExtension(outputPath) + Llama2cImporter.TokenizerSuffix, spec);

            var stagedModel = Path.Combine(staging, Path.GetFileName(outputPath));
            var stagedData = OnnxModelIO.Save(quantized, stagedModel);
            string? stagedTokenizer = null;
            if (tokenizerPath is not null)
            {
                stagedTokenizer = Path.Combine(staging, Path.GetFileNameWithoutExtension(outputPath) + Llama2cImporter.TokenizerSuffix);
                File.Copy(tokenizerPath, stagedTokenizer, overwrite: true);
                File.SetLastWriteTimeUtc(stagedTokenizer, DateTime.UtcNow); // an output: newer than its inputs for incremental builds
            }
            Lap("transform");

            // 4. Validation on execution providers.
            reporter.Stage("validate", string.Join(", ", spec.Validation.Providers.Select(p => ProviderName(p.Value))));
            var providers = QuantizationValidator.Validate(modelPath, stagedModel, evaluation, spec.Evaluation.Context.Value,
                spec.Validation.Providers.Select(p => ProviderName(p.Value)).ToList(),
                spec.Validation.Require.Select(p => ProviderName(p.Value)).ToList(),
                p => reporter.Progress("validate " + p));
            foreach (var p in providers.Where(p => p.Status != ProviderStatus.Ok))
                reporter.Warning($"{spec.Validation.Location}: warning MC3005: execution provider '{p.Provider}' was not validated ({p.Status.ToString().ToLowerInvariant()}): {p.Reason}");
            var int8Count = decisions.Count(d => d.Precision == LayerPrecision.Int8);
            int? fused = null;
            if (int8Count > 0 && providers.Any(p => p.Provider == ExecutionProviders.Cpu && p.Status == ProviderStatus.Ok))
            {
                fused = FusionCheck.CountFusedInt8(stagedModel, staging);
                if (fused is null)
                    reporter.Warning($"{outputPath}: warning MC3021: could not read ONNX Runtime's optimized graph to check that the INT8 layers fuse into integer kernels.");
                else if (fused < int8Count)
                    reporter.Warning($"{outputPath}: warning MC3020: ONNX Runtime's CPU optimizer fused only {fused} of {int8Count} INT8 layers into integer kernels; the others run as DequantizeLinear + float MatMul, slower than fp32.");
            }
            if (!providers.Any(p => p.Status == ProviderStatus.Ok))
                throw new ModelCompilerException("MC3004", "no execution provider could validate the quantized model: "
                    + string.Join("; ", providers.Select(p => $"{p.Provider}: {p.Reason}")), spec.SpecPath, spec.Validation.Location.Line, spec.Validation.Location.Column);
            Lap("validate");

            var result = new CompileResult
            {
                Spec = spec,
                Options = options,
                Inputs = inputs,
                Signature = ModelSignature.Of(quantized),
                Decisions = decisions,
                Statistics = layers.ToDictionary(l => l.Name, l => calib.For(l).Summarize(), StringComparer.Ordinal),
                Int8 = int8.ToDictionary(i => i.Layer, StringComparer.Ordinal),
                Calibration = calib,
                Providers = providers,
                Gates = [],
                OutputModelSha256 = Sha256(stagedModel),
                ExternalDataFile = stagedData is null ? null : Path.GetFileName(stagedData),
                TokenizerFile = stagedTokenizer is null ? null : Path.GetFileName(stagedTokenizer),
                Fp32WeightBytes = WeightBytes(fp32),
                QuantizedWeightBytes = WeightBytes(quantized),
                EvaluationTokens = evaluation.PredictedTokens(spec.Evaluation.Context.Value),
                Int8FusedOnCpu = fused,
                Timings = timings,
            };
            result = result with { Gates = GateChecker.Check(spec, result) };

            // 5. Outputs: move the staged files into place, then manifest and report.
            reporter.Stage("write", outputPath);
            if (stagedData is not null) File.Move(stagedData, Path.Combine(Path.GetDirectoryName(outputPath)!, Path.GetFileName(stagedData)), overwrite: true);
            if (stagedTokenizer is not null) File.Move(stagedTokenizer, Path.Combine(Path.GetDirectoryName(outputPath)!, Path.GetFileName(stagedTokenizer)), overwrite: true);
            File.Move(stagedModel, outputPath, overwrite: true);
            AtomicFile.WriteAllText(options.ResolvedManifestPath, ManifestWriter.Write(result));
            AtomicFile.WriteAllText(options.ResolvedReportPath, ReportWriter.Write(result));
            if (options.DepsPath is not null)
                AtomicFile.WriteAllText(options.DepsPath, string.Join("\n", depFiles.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)) + "\n");
            Lap("write");
            return result with { Timings = timings };
        }
        finally
        {
            try { Directory.Delete(staging, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>Per-channel DequantizeLinear (the axis attribute) exists from opset 13 on.</summary>
    private static void RequireOpsetForInt8(ModelProto model, IReadOnlyList<LayerDecision> decisions, string modelPath)
    {
        if (!decisions.Any(d => d.Precision == LayerPrecision.Int8)) return;
        var opset = model.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx")?.Version ?? 0;
        if (opset < 13)
            throw new ModelCompilerException("MC1045",
                $"the model uses ONNX opset {opset}; INT8 with per-channel weights needs opset 13 or later. Re-export it with opset ≥ 13 (e.g. optimum-cli export onnx --opset 17), or use policy 'none'.", modelPath);
    }

    public static string ProviderName(ExecutionProviderKind kind) => kind == ExecutionProviderKind.Cuda ? ExecutionProviders.Cuda : ExecutionProviders.Cpu;

    private static TokenStream Tokens(TokenDataSpec data, string role, Func<SpecLocation, ITokenizer> tokenizer, List<InputFile> inputs, List<string> deps,
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

    private static string? ResolveTokenizer(QuantizationSpec spec, ModelProto model, string modelPath)
    {
        var fromSpec = spec.Calibration.Tokenizer ?? spec.Evaluation.Tokenizer;
        if (fromSpec is not null) return fromSpec.FullPath;
        var meta = model.MetadataProps.ToDictionary(m => m.Key, m => m.Value, StringComparer.Ordinal);
        return ModelTokenizer.FindBeside(modelPath, meta);
    }

    private static long LogitsVocabulary(ModelProto model)
    {
        var logits = model.Graph.Output.FirstOrDefault(o => o.Name == "logits")
            ?? throw new ModelCompilerException("MC1040", "not a decoder language model: the graph has no 'logits' output (modelc compile validates by perplexity).", null);
        var dims = logits.Type?.TensorType?.Shape?.Dim;
        return dims is { Count: 3 } && dims[2].ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? dims[2].DimValue : -1;
    }

    private static void StampMetadata(ModelProto model, string? tokenizerFile, QuantizationSpec spec)
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

    private static long WeightBytes(ModelProto model) => model.Graph.Initializer.Sum(t => (long)t.RawData.Length);

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

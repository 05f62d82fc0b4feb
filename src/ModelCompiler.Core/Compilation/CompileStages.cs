using System.Security.Cryptography;
using System.Diagnostics;
using System.Globalization;
using ModelCompiler.Calibration;
using ModelCompiler.Evaluation;
using ModelCompiler.Import;
using ModelCompiler.IO;
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

/// <summary>
/// What the stages of one compile share. Each stage fills in its part; later stages only read earlier parts, so
/// transform and validate can run again on another set of layers (the closed loop, a probe) without reloading
/// the model or recalibrating. The fp32 model is never modified: every transform works on a clone.
/// </summary>
public sealed class CompileState : IDisposable
{
    internal CompileState(CompileOptions options, ICompileReporter reporter, QuantizationSpec spec, ILayerPolicy policy,
        string modelPath, string outputPath, ModelProto fp32, IReadOnlyList<QuantizableLayer> layers, string staging)
    {
        Options = options;
        Reporter = reporter;
        Spec = spec;
        Policy = policy;
        ModelPath = modelPath;
        OutputPath = outputPath;
        Fp32 = fp32;
        Fp32Graph = new OnnxGraph(fp32.Graph);
        Layers = layers;
        Staging = staging;
    }

    public CompileOptions Options { get; }
    public ICompileReporter Reporter { get; }
    public QuantizationSpec Spec { get; }
    public ILayerPolicy Policy { get; }
    public string ModelPath { get; }
    public string OutputPath { get; }
    public ModelProto Fp32 { get; }
    public OnnxGraph Fp32Graph { get; }
    public IReadOnlyList<QuantizableLayer> Layers { get; }
    /// <summary>The hidden folder beside the output where every file is written before it is moved into place.</summary>
    public string Staging { get; }
    public LayerPrecision Fallback => Spec.Fallback.Value == FallbackPrecision.Fp16 ? LayerPrecision.Fp16 : LayerPrecision.Fp32;

    public List<InputFile> Inputs { get; } = [];
    public List<string> DepFiles { get; } = [];
    public string? TokenizerPath { get; internal set; }
    public long Vocabulary { get; internal set; }

    public TokenStream CalibrationTokens { get; internal set; } = null!;
    public TokenStream EvaluationTokens { get; internal set; } = null!;
    public CalibrationResult Calibration { get; internal set; } = null!;
    /// <summary>The INT8 activation range of each calibrated activation, by the spec's calibration method.</summary>
    public IReadOnlyDictionary<string, (float Min, float Max)> ActivationRanges { get; internal set; } = new Dictionary<string, (float, float)>();
    public IReadOnlyList<LayerCandidate> Candidates { get; internal set; } = [];
    public IReadOnlyList<LayerDecision> Decisions { get; internal set; } = [];
    public SensitivityProbe? Probe { get; internal set; }
    /// <summary>The fp32 model's evaluation logits per provider (files in the staging folder), computed once per compile.</summary>
    internal Dictionary<string, Fp32Reference> Fp32References { get; } = new(StringComparer.Ordinal);

    internal List<(string Stage, double Seconds)> Timings { get; } = [];
    /// <summary>Each stage's own peak resident size (the high-water mark is reset after each stage where the OS allows).</summary>
    internal List<(string Stage, long Bytes)> StagePeakRss { get; } = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private ITokenizer? _tokenizer;
    private int _attempts;

    /// <summary>Ends the current stage's timing (plus <paramref name="earlierSeconds"/> spent before this state existed).</summary>
    internal void Lap(string stage, double earlierSeconds = 0)
    {
        Timings.Add((stage, earlierSeconds + _clock.Elapsed.TotalSeconds));
        StagePeakRss.Add((stage, new Benchmarking.PeakRss().Peak()));
        ProcessMemory.Release(); // the next stage starts without this one's garbage and freed session memory
        Benchmarking.PeakRss.Reset();
        _clock.Restart();
    }

    internal string NextAttemptFolder()
    {
        var dir = Path.Combine(Staging, (++_attempts).ToString(CultureInfo.InvariantCulture));
        Directory.CreateDirectory(dir);
        return dir;
    }

    internal ITokenizer Tokenizer(SpecLocation where)
    {
        if (_tokenizer is not null) return _tokenizer;
        if (TokenizerPath is null)
            throw new ModelCompilerException(TokenizationErrors.TokenizerNotFound,
                "a text source needs a tokenizer: none is stored beside the model; add 'tokenizer: path' under calibration.", where.File, where.Line, where.Column);
        _tokenizer = TokenizerLoader.Load(TokenizerPath, Vocabulary > 0 ? (int)Vocabulary : null);
        if (Vocabulary > 0 && _tokenizer.VocabularySize != Vocabulary)
            throw new ModelCompilerException(TokenizationErrors.TokenizerVocabularyMismatch,
                $"the tokenizer has {_tokenizer.VocabularySize} tokens but the model's logits have {Vocabulary}; use the model's own tokenizer.", TokenizerPath);
        Inputs.Add(CompileStages.Fingerprint("tokenizer", TokenizerPath, Spec.SpecPath));
        DepFiles.Add(TokenizerPath);
        return _tokenizer;
    }

    public void Dispose()
    {
        Probe?.Dispose();
        try { Directory.Delete(Staging, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        // A failed run leaves no empty output folder behind it: remove the folders it created, innermost first.
        if (CreatedFolder is not null) OutputSet.RemoveCreatedFolders(Path.GetDirectoryName(OutputPath)!, CreatedFolder);
    }

    /// <summary>The outermost output folder this run created, or null (removed again on dispose when left empty).</summary>
    internal string? CreatedFolder { get; init; }
}

/// <summary>A transformed and validated model in its staging folder, with its gates checked.</summary>
public sealed record CompileAttempt(string Folder, string StagedModel, string? StagedData, ModelProto Model, CompileResult Result);

/// <summary>The stages of a compile: load → tokens → calibrate → decide → transform → validate → gate → write.</summary>
public static class CompileStages
{
    /// <summary>Spec, model, layers and policy: everything that can fail from names alone fails here, before any work.</summary>
    public static CompileState Load(CompileOptions options, ICompileReporter reporter)
    {
        var clock = Stopwatch.StartNew();
        CompileOutputs.RequireUsablePaths(options);
        reporter.Stage("spec", options.SpecPath);
        var loaded = SpecLoader.Load(options.SpecPath);
        foreach (var w in loaded.Warnings) reporter.Warning(w.ToDiagnosticString());
        var spec = loaded.Spec;
        var modelPath = Path.GetFullPath(options.ModelPath);
        var outputPath = Path.GetFullPath(options.OutputPath);
        CompileOutputs.RequireRegularSpecInputs(spec);

        // The policy is built first: a predictor file it names fails at its spec line before the model is read.
        var policy = PolicyKinds.Create(spec.Policy);

        reporter.Stage("load", modelPath);
        var externalData = new List<string>();
        // External data stays on disk: the compile reads weights tensor by tensor and ORT reads them from the files.
        var fp32 = OnnxModelIO.Load(modelPath, externalData, lazyExternalData: true);
        var layers = LayerDiscovery.Find(new OnnxGraph(fp32.Graph));
        if (layers.Count == 0)
            throw new ModelCompilerException("MC1041", "the model has no quantizable layer (no MatMul/Gemm with a constant 2-D weight).", modelPath);
        if (layers.Count(l => l.QuantizedWeight is not null || l.ActivationQuantized) is var already and > 0)
            reporter.Warning($"{modelPath}: warning MC1156: {already} of {layers.Count} layers are already quantized (DequantizeLinear on an integer weight or on the layer input); "
                + "their quantized weights are kept as they are: INT8 adds only the activation quantization a layer lacks, fp16/fp32 leave them unchanged (docs/models.md).");
        var roles = RoleInference.Infer(new OnnxGraph(fp32.Graph), layers);
        PolicyOverrides.Validate(spec.Policy, layers, roles);
        foreach (var w in PolicyOverrides.UnmatchedRoles(spec.Policy, roles)) reporter.Warning(w.ToDiagnosticString());
        policy.ValidateLayers(layers);
        var vocab = LogitsVocabulary(fp32, modelPath); // "not a decoder" before any advice about quantizing it
        ModelSignature.Of(fp32, Path.GetDirectoryName(modelPath), modelPath); // MC1048: a config beside the model that contradicts it
        if (fp32.MetadataProps.FirstOrDefault(m => m.Key == Llama2cImporter.MetadataKeys.MaxPositions) is { } mp && int.TryParse(mp.Value, CultureInfo.InvariantCulture, out var maxPositions))
        {
            foreach (var (role, data) in new[] { ("calibration", spec.Calibration), ("evaluation", spec.Evaluation) })
                if (data.Context.Value > maxPositions)
                    throw data.Context.Location.Error("MC1043", $"{role} context {data.Context.Value} exceeds the model's maximum sequence length {maxPositions}; lower '{role}.context'.");
        }

        var tokenizerPath = ResolveTokenizer(spec, fp32, modelPath);
        CompileOutputs.RequireDisjoint(options, spec, modelPath, externalData, tokenizerPath);
        foreach (var folder in CompileOutputs.Folders(options)) OutputSet.RemoveStale(folder);
        var staging = Path.Combine(Path.GetDirectoryName(outputPath)!, OutputSet.HiddenName(Path.GetFileName(outputPath)));
        var createdFolder = OutputSet.OutermostMissingFolder(Path.GetDirectoryName(outputPath)!);
        Directory.CreateDirectory(staging);
        var beforeState = clock.Elapsed.TotalSeconds;
        var state = new CompileState(options, reporter, spec, policy, modelPath, outputPath, fp32, layers, staging) { Vocabulary = vocab, CreatedFolder = createdFolder };
        state.Inputs.Add(Fingerprint("model", modelPath, modelPath));
        state.Inputs.Add(Fingerprint("spec", spec.SpecPath, spec.SpecPath));
        state.DepFiles.AddRange([modelPath, spec.SpecPath, .. externalData]);
        state.Inputs.AddRange(externalData.Select(f => Fingerprint("model_data", f, modelPath)));
        if (spec.Policy is IPolicyWithFile { PolicyFile: { } file })
        {
            state.Inputs.Add(Fingerprint("predictor", file, spec.SpecPath));
            state.DepFiles.Add(file);
        }
        state.TokenizerPath = tokenizerPath;
        state.Lap("load", beforeState);
        return state;
    }


    public static void Tokens(CompileState s)
    {
        s.Reporter.Stage("tokens", "calibration and evaluation data");
        s.CalibrationTokens = Tokens(s.Spec.Calibration, "calibration", s.Tokenizer, s.Inputs, s.DepFiles, s.ModelPath, s.Staging, s.Spec, s.Reporter);
        ProcessMemory.Release(); // the calibration sampler's session before the evaluation sampler's
        s.EvaluationTokens = Tokens(s.Spec.Evaluation, "evaluation", s.Tokenizer, s.Inputs, s.DepFiles, s.ModelPath, s.Staging, s.Spec, s.Reporter);
        s.Lap("tokens");
    }

    public static void Calibrate(CompileState s)
    {
        s.Reporter.Stage("calibrate", $"{s.Layers.Count} layers, {s.CalibrationTokens.Count} tokens");
        try
        {
            s.Calibration = Calibrator.Run(s.Fp32, s.Layers, s.CalibrationTokens, s.Spec.Calibration.Context.Value, s.Staging, s.Reporter.Progress("calibrate"),
                Path.GetDirectoryName(s.ModelPath));
        }
        catch (ModelCompilerException e) when (e.File is string file && Path.GetFullPath(file).StartsWith(Path.GetFullPath(s.Staging), StringComparison.Ordinal))
        {
            // The tap model is modelc's staging copy, which is gone once the compile fails: name the user's model instead.
            throw new ModelCompilerException(e.Code, "calibrating (the model with its layer inputs added as outputs): " + e.Message,
                Path.GetFullPath(s.ModelPath), inner: e);
        }
        // Ranges once per activation: the entropy search is not free, and probes and the closed loop transform again.
        var estimator = RangeEstimators.Create(s.Spec.CalibrationMethod.Method.Value, s.Spec.CalibrationMethod.Percentile.Value);
        s.ActivationRanges = s.Calibration.ByActivation.ToDictionary(kv => kv.Key, kv => estimator.Estimate(kv.Value), StringComparer.Ordinal);
        s.Lap("calibrate");
    }

    /// <summary>Candidates from calibration, then the policy's decisions, then the spec's overrides.</summary>
    public static void Decide(CompileState s)
    {
        s.Candidates = CandidateBuilder.Build(s.Fp32Graph, s.Layers, s.Calibration);
        if (s.Policy.ProbeTokens is { } probeTokens) s.Probe = SensitivityProbe.Create(s, probeTokens);
        var context = new PolicyContext(s.Candidates, s.Fallback, s.Probe, Budget(s), new ReporterProgress(s.Reporter));
        var decided = s.Policy.Decide(context);
        s.Decisions = PolicyOverrides.Apply(s.Spec.Policy, s.Fallback, decided, s.Candidates.ToDictionary(c => c.Layer.Name, c => c.Role, StringComparer.Ordinal));
        s.Reporter.Stage("decide", $"policy {s.Spec.Policy.Kind}: {s.Decisions.Count(d => d.IsInt8)} of {s.Decisions.Count} layers INT8");
        s.Lap("decide");
    }

    internal static ModelBudget Budget(CompileState s)
    {
        var layerWeights = s.Layers.Select(l => l.WeightInitializer).Distinct(StringComparer.Ordinal)
            .Sum(name => (long)(s.Fp32Graph.Initializer(name)?.RawData.Length ?? 0));
        var total = WeightBytes(s.Fp32);
        return new ModelBudget(total - layerWeights, total);
    }

    /// <summary>A clone of the fp32 model with the decided layers INT8 or in the fallback precision (metadata stamped).</summary>
    public static (ModelProto Model, IReadOnlyList<QdqInt8Transform.Int8LayerInfo> Int8) Transform(CompileState s, IReadOnlyList<LayerDecision> decisions, bool stamp = true)
    {
        var quantized = s.Fp32.Clone();
        var graph = new OnnxGraph(quantized.Graph);
        var bound = LayerDiscovery.Bind(graph, decisions.Select(d => d.Layer));
        var int8Layers = decisions.Where(d => d.Precision == LayerPrecision.Int8).Select(d => bound[d.Layer.Name]).ToList();
        // fp16/bf16 layers: fp32 QDQ between Casts on cpu (what ORT's CPU EP fuses), scales in their own type on cuda.
        var form = QdqForm.For(quantized, int8Layers, castHalfToFloat: s.Spec.Target.Value == CompileTarget.Cpu);
        if (int8Layers.Count > 0) form.Import(quantized);
        var int8 = QdqInt8Transform.Apply(graph, int8Layers, l => s.ActivationRanges[l.ActivationInput], form);
        var wholeGraph = s.Spec.Target.Value == CompileTarget.Cuda && s.Fallback == LayerPrecision.Fp16
            && WholeGraphFp16Transform.Apply(quantized, graph, decisions.Where(d => d.Precision == LayerPrecision.Fp32).SelectMany(d => bound[d.Layer.Name].Sites.Select(l => l.Node)));
        if (!wholeGraph) Fp16Transform.Apply(graph, decisions.Where(d => d.Precision == LayerPrecision.Fp16).Select(d => bound[d.Layer.Name]));
        GraphCleanup.Run(graph);
        if (stamp)
            StampMetadata(quantized, s.TokenizerPath is null ? null : CompileOutputs.TokenizerCopyName(s.OutputPath, s.TokenizerPath), s.Spec);
        return (quantized, int8);
    }

    /// <summary>Transform, save into a fresh staging folder, validate on the spec's providers and check the gates.</summary>
    public static CompileAttempt TransformAndValidate(CompileState s, IReadOnlyList<LayerDecision> decisions, string label)
    {
        s.Reporter.Stage("transform", $"{decisions.Count(d => d.Precision == LayerPrecision.Int8)} INT8, {decisions.Count(d => d.Precision == LayerPrecision.Fp16)} FP16, {decisions.Count(d => d.Precision == LayerPrecision.Fp32)} FP32");
        var (quantized, int8) = Transform(s, decisions);
        var folder = s.NextAttemptFolder();
        var stagedModel = Path.Combine(folder, Path.GetFileName(s.OutputPath));
        var stagedData = OnnxModelIO.Save(quantized, stagedModel);
        var signature = ModelSignature.Of(quantized, Path.GetDirectoryName(s.ModelPath), s.ModelPath);
        var quantizedWeightBytes = WeightBytes(quantized);
        // The INT8 weights are on disk now: keep the model as saved, its tensors read back from there when asked for.
        if (stagedData is not null) quantized = OnnxModelIO.Load(stagedModel, lazyExternalData: true);
        s.Lap("transform");

        s.Reporter.Stage("validate", string.Join(", ", s.Spec.Validation.Providers.Select(p => QuantizationCompiler.ProviderName(p.Value))) + (label == "compile" ? "" : $" ({label})"));
        var providers = QuantizationValidator.Validate(s.ModelPath, stagedModel, s.EvaluationTokens, s.Spec.Evaluation.Context.Value,
            s.Spec.Validation.Providers.Select(p => QuantizationCompiler.ProviderName(p.Value)).ToList(),
            s.Spec.Validation.Require.Select(p => QuantizationCompiler.ProviderName(p.Value)).ToList(),
            s.Staging, s.Fp32References, p => s.Reporter.Progress("validate " + p));
        if (!providers.Any(p => p.Status == ProviderStatus.Ok))
            throw new ModelCompilerException("MC3004", "no execution provider could validate the quantized model: "
                + string.Join("; ", providers.Select(p => $"{p.Provider}: {p.Reason}")), s.Spec.SpecPath, s.Spec.Validation.Location.Line, s.Spec.Validation.Location.Column);
        s.Lap("validate");

        var result = new CompileResult
        {
            Spec = s.Spec,
            Options = s.Options,
            Inputs = s.Inputs,
            Signature = signature,
            Decisions = decisions,
            Statistics = s.Candidates.ToDictionary(c => c.Name, c => c.Activation, StringComparer.Ordinal),
            Candidates = s.Candidates,
            Int8 = int8.ToDictionary(i => i.Layer, StringComparer.Ordinal),
            Calibration = s.Calibration,
            Providers = providers,
            Gates = [],
            OutputModelSha256 = Sha256(stagedModel),
            ExternalDataFile = stagedData is null ? null : Path.GetFileName(stagedData),
            TokenizerFile = s.TokenizerPath is null ? null : CompileOutputs.TokenizerCopyName(s.OutputPath, s.TokenizerPath),
            Fp32WeightBytes = WeightBytes(s.Fp32),
            QuantizedWeightBytes = quantizedWeightBytes,
            EvaluationTokens = s.EvaluationTokens.PredictedTokens(s.Spec.Evaluation.Context.Value),
            Int8FusedOnCpu = null,
            Timings = s.Timings,
            StagePeakRss = s.StagePeakRss,
        };
        result = result with { Gates = GateChecker.Check(s.Spec, result) };
        return new CompileAttempt(folder, stagedModel, stagedData, quantized, result);
    }

    /// <summary>Fusion advice, warnings, then the staged files moved into place: data, tokenizer, model, manifest, report.</summary>
    public static CompileResult Write(CompileState s, CompileAttempt attempt)
    {
        var result = attempt.Result;
        foreach (var p in result.Providers.Where(p => p.Status != ProviderStatus.Ok))
            s.Reporter.Warning($"{s.Spec.Validation.Location}: warning MC3005: execution provider '{p.Provider}' was not validated ({p.Status.ToString().ToLowerInvariant()}): {p.Reason}");
        var int8Count = result.Int8Nodes;
        if (int8Count > 0 && result.Providers.Any(p => p.Provider == ExecutionProviders.Cpu && p.Status == ProviderStatus.Ok))
        {
            var fused = FusionCheck.CountFusedInt8(attempt.StagedModel, s.Staging);
            if (fused is null)
                s.Reporter.Warning($"{s.OutputPath}: warning MC3021: could not read ONNX Runtime's optimized graph to check that the INT8 layers fuse into integer kernels.");
            else if (fused < int8Count)
                s.Reporter.Warning($"{s.OutputPath}: warning MC3020: ONNX Runtime's CPU optimizer fused only {fused} of {int8Count} INT8 layers into integer kernels; the others run as DequantizeLinear + float MatMul, slower than fp32.");
            result = result with { Int8FusedOnCpu = fused };
        }

        string? stagedTokenizer = null;
        if (s.TokenizerPath is not null)
        {
            stagedTokenizer = Path.Combine(attempt.Folder, CompileOutputs.TokenizerCopyName(s.OutputPath, s.TokenizerPath));
            File.Copy(s.TokenizerPath, stagedTokenizer, overwrite: true);
            // A copy of a read-only source (a tokenizer in a read-only folder) would be read-only too: the next build
            // could not replace it on Windows, nor `dotnet clean` delete it. An output is the user's file to write.
            var attributes = File.GetAttributes(stagedTokenizer);
            if (attributes.HasFlag(FileAttributes.ReadOnly)) File.SetAttributes(stagedTokenizer, attributes & ~FileAttributes.ReadOnly);
            File.SetLastWriteTimeUtc(stagedTokenizer, DateTime.UtcNow); // an output: newer than its inputs for incremental builds
        }

        var plot = Path.Combine(attempt.Folder, Path.GetFileNameWithoutExtension(s.Options.ResolvedReportPath) + ".layers.svg");
        var plotWritten = LayerReportPlot.TryWrite(result, plot);
        result = result with { LayerPlotFile = plotWritten ? Path.GetFileName(plot) : null };

        s.Reporter.Stage("write", s.OutputPath);
        var outDir = Path.GetDirectoryName(s.OutputPath)!;
        var set = new OutputSet();
        if (attempt.StagedData is not null) set.Add(attempt.StagedData, Path.Combine(outDir, Path.GetFileName(attempt.StagedData)));
        if (stagedTokenizer is not null)
        {
            set.Add(stagedTokenizer, Path.Combine(outDir, Path.GetFileName(stagedTokenizer)));
            // A copy in another format left by an earlier compile of this output would be copied and found beside it too.
            foreach (var suffix in Tokenization.TokenizerLoader.CopySuffixes)
            {
                var other = Path.Combine(outDir, Path.GetFileNameWithoutExtension(s.OutputPath) + suffix);
                if (other != Path.Combine(outDir, Path.GetFileName(stagedTokenizer))) set.Remove(other);
            }
        }
        set.Add(attempt.StagedModel, s.OutputPath);
        if (plotWritten) set.Add(plot, Path.Combine(Path.GetDirectoryName(s.Options.ResolvedReportPath)!, Path.GetFileName(plot)));
        set.Add(StageText(attempt.Folder, "report.md", ReportWriter.Write(result)), s.Options.ResolvedReportPath);
        if (s.Options.DepsPath is not null)
            set.Add(StageText(attempt.Folder, "deps.txt", string.Join("\n", s.DepFiles.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)) + "\n"), Path.GetFullPath(s.Options.DepsPath));
        set.SetRecord(StageText(attempt.Folder, "manifest.json", ManifestWriter.Write(result)), s.Options.ResolvedManifestPath);
        set.Commit();
        s.Lap("write");
        return result with { Timings = s.Timings.ToList(), StagePeakRss = s.StagePeakRss.ToList() };
    }

    private static string StageText(string folder, string name, string text)
    {
        var path = Path.Combine(folder, "modelc-staged-" + name);
        AtomicFile.WriteAllText(path, text);
        return path;
    }

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

    private static long LogitsVocabulary(ModelProto model, string modelPath)
    {
        var logits = model.Graph.Output.FirstOrDefault(o => o.Name == "logits")
            ?? throw new ModelCompilerException("MC1040", "not a decoder language model: the graph has no 'logits' output (modelc compile validates by perplexity).", modelPath);
        var dims = logits.Type?.TensorType?.Shape?.Dim;
        if (dims is { Count: > 0 and not 3 })
            throw new ModelCompilerException("MC1040", $"not a decoder language model: 'logits' has rank {dims.Count}, not [batch, sequence, vocabulary] (a classifier?); modelc compile validates by perplexity.", modelPath);
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

    private static string Sha256(string path)
    {
        using var s = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(s));
    }

    internal sealed class ReporterProgress(ICompileReporter reporter) : ICompileProgress
    {
        public void Report(string stage, int done, int total, string detail) => reporter.Stage(stage, $"{done}/{total} {detail}");
    }
}

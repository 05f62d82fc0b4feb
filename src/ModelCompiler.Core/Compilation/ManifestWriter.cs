using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using ModelCompiler.Calibration;
using ModelCompiler.Policies;
using ModelCompiler.Spec;
using ModelCompiler.Validation;

namespace ModelCompiler.Compilation;

/// <summary>
/// Writes the manifest (docs/manifest.md): fixed key order, invariant numbers, no timestamps or timings, so the
/// same inputs give the same bytes.
/// </summary>
public static class ManifestWriter
{
    public const string Format = "modelcompiler-manifest";
    public const int FormatVersion = 1;

    public static string Write(CompileResult r)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, NewLine = "\n" }))
        {
            w.WriteStartObject();
            w.WriteString("format", Format);
            w.WriteNumber("format_version", FormatVersion);
            w.WriteStartObject("tool");
            w.WriteString("name", "modelc");
            w.WriteString("version", ToolInfo.Version);
            w.WriteString("onnxruntime", Runtime.ExecutionProviders.OrtVersion);
            w.WriteEndObject();

            w.WriteStartObject("model");
            w.WriteString("file", Path.GetFileName(r.Options.OutputPath));
            w.WriteString("sha256", r.OutputModelSha256);
            Nullable(w, "external_data", r.ExternalDataFile);
            Nullable(w, "tokenizer", r.TokenizerFile);
            w.WriteEndObject();

            w.WriteStartObject("signature");
            Tensors(w, "inputs", r.Signature.Inputs);
            Tensors(w, "outputs", r.Signature.Outputs);
            w.WriteEndObject();

            WriteDecoder(w, r.Signature.Decoder);

            w.WriteStartArray("inputs");
            foreach (var f in r.Inputs)
            {
                w.WriteStartObject();
                w.WriteString("role", f.Role);
                w.WriteString("path", f.Path);
                w.WriteString("sha256", f.Sha256);
                w.WriteEndObject();
            }
            w.WriteEndArray();

            WriteSpec(w, r.Spec);
            WriteCalibration(w, r);
            WriteLayers(w, r);
            WriteMetrics(w, r);
            WriteFallbackSteps(w, r);
            Nullable(w, "layer_plot", r.LayerPlotFile);

            w.WriteStartArray("gates");
            foreach (var g in r.Gates)
            {
                w.WriteStartObject();
                w.WriteString("name", g.Name);
                w.WriteString("code", g.Code);
                Number(w, "limit", g.Limit);
                Number(w, "measured", g.Measured);
                w.WriteBoolean("passed", g.Passed);
                Nullable(w, "provider", g.Provider);
                w.WriteNumber("spec_line", g.Location.Line);
                w.WriteNumber("spec_column", g.Location.Column);
                w.WriteEndObject();
            }
            w.WriteEndArray();

            w.WriteStartArray("providers");
            foreach (var p in r.Providers)
            {
                w.WriteStartObject();
                w.WriteString("name", p.Provider);
                w.WriteString("status", p.Status.ToString().ToLowerInvariant());
                Nullable(w, "reason", p.Reason);
                if (p.Status == ProviderStatus.Ok)
                {
                    Comparison(w, p);
                    w.WriteNumber("tokens", p.Tokens);
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();

            w.WriteBoolean("passed", r.Passed);
            Nullable(w, "failed_gate", r.Gates.FirstOrDefault(g => !g.Passed)?.Name);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    /// <summary>The manifest's <c>decoder</c> object alone, as <see cref="Write"/> writes it (for tests and tools).</summary>
    public static string DecoderObject(DecoderInfo? decoder)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, NewLine = "\n" }))
        {
            w.WriteStartObject();
            WriteDecoder(w, decoder);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void WriteDecoder(Utf8JsonWriter w, DecoderInfo? decoder)
    {
        if (decoder is not { } d)
        {
            w.WriteNull("decoder");
            return;
        }
        w.WriteStartObject("decoder");
        w.WriteNumber("num_layers", d.Layers);
        w.WriteNumber("num_kv_heads", d.KvHeads);
        w.WriteNumber("head_dim", d.HeadDim);
        w.WriteNumber("vocab_size", d.VocabSize);
        NullableInt(w, "bos_token_id", d.BosTokenId);
        NullableInt(w, "eos_token_id", d.EosTokenId);
        if (d.Contract is not null)
        {
            w.WriteStartArray("eos_token_ids");
            foreach (var id in d.EosTokenIds) w.WriteNumberValue(id);
            w.WriteEndArray();
        }
        NullableInt(w, "max_positions", d.MaxPositions);
        if (d.Contract is { } c) WriteContract(w, c);
        w.WriteEndObject();
    }

    /// <summary>The decoder contract keys of the manifest's <c>decoder</c> object (docs/manifest.md), after the summary keys.</summary>
    private static void WriteContract(Utf8JsonWriter w, Decoding.DecoderContract c)
    {
        Port(w, "input_ids", c.InputIds);
        Port(w, "attention_mask", c.AttentionMask);
        Port(w, "position_ids", c.PositionIds);
        Port(w, "logits", c.Logits);
        w.WriteStartArray("extra_inputs");
        foreach (var (kind, input) in new[] { ("seqlens_k", c.SeqlensK), ("total_sequence_length", c.TotalSequenceLength), ("use_cache_branch", c.UseCacheBranch) })
        {
            if (input is null) continue;
            w.WriteStartObject();
            w.WriteString("name", input.Name);
            w.WriteString("kind", kind);
            w.WriteString("type", ModelSignature.ElementTypeName(input.Type));
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("state");
        foreach (var s in c.States)
        {
            w.WriteStartObject();
            w.WriteString("input", s.Input);
            w.WriteString("output", s.Output);
            w.WriteString("type", ModelSignature.ElementTypeName(s.Type));
            w.WriteString("kind", s.Kind switch
            {
                Decoding.DecoderStateKind.Key => "key",
                Decoding.DecoderStateKind.Value => "value",
                Decoding.DecoderStateKind.PackedKv => "packed_kv",
                _ => "state",
            });
            w.WriteNumber("layer", s.Layer);
            w.WriteStartArray("initial_shape");
            foreach (var dim in s.InitialShape) w.WriteNumberValue(dim);
            w.WriteEndArray();
            if (s.SequenceAxis is { } axis) w.WriteNumber("sequence_axis", axis);
            else w.WriteNull("sequence_axis");
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static void Port(Utf8JsonWriter w, string name, Decoding.DecoderInput? input)
    {
        if (input is null)
        {
            w.WriteNull(name);
            return;
        }
        w.WriteStartObject(name);
        w.WriteString("name", input.Name);
        w.WriteString("type", ModelSignature.ElementTypeName(input.Type));
        w.WriteEndObject();
    }

    private static void WriteSpec(Utf8JsonWriter w, QuantizationSpec s)
    {
        w.WriteStartObject("spec");
        w.WriteString("target", s.Target.Value.ToString().ToLowerInvariant());
        w.WriteString("policy", s.Policy.Kind);
        w.WriteStartArray("exclude");
        foreach (var e in s.Policy.Exclude) w.WriteStringValue(e.Value);
        w.WriteEndArray();
        if (s.Policy is ManualPolicySpec m)
        {
            w.WriteStartArray("include");
            foreach (var e in m.Include) w.WriteStringValue(e.Value);
            w.WriteEndArray();
        }
        if (s.Policy.ForceInt8.Count > 0)
        {
            w.WriteStartArray("force_int8");
            foreach (var e in s.Policy.ForceInt8) w.WriteStringValue(e.Value);
            w.WriteEndArray();
        }
        // The kind's own keys, as its table row writes them into the effective spec.
        w.WriteStartObject("policy_settings");
        foreach (var (key, node) in PolicyKinds.For(s.Policy).Write(s.Policy))
        {
            w.WritePropertyName(key);
            Yaml(w, node);
        }
        w.WriteEndObject();
        if (!s.Gates.OnFail.IsDefault) w.WriteString("on_fail", s.Gates.OnFail.Value.ToString().ToLowerInvariant());
        w.WriteString("fallback", s.Fallback.Value.ToString().ToLowerInvariant());
        TokenData(w, "calibration", s.Calibration, s.SpecPath);
        TokenData(w, "evaluation", s.Evaluation, s.SpecPath);
        w.WriteStartArray("providers");
        foreach (var p in s.Validation.Providers) w.WriteStringValue(QuantizationCompiler.ProviderName(p.Value));
        w.WriteEndArray();
        w.WriteStartArray("require");
        foreach (var p in s.Validation.Require) w.WriteStringValue(QuantizationCompiler.ProviderName(p.Value));
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void TokenData(Utf8JsonWriter w, string name, TokenDataSpec d, string specPath)
    {
        w.WriteStartObject(name);
        switch (d.Source)
        {
            case TextSourceSpec t:
                w.WriteString("text", Path.GetRelativePath(Path.GetDirectoryName(specPath)!, t.Text.FullPath).Replace('\\', '/'));
                break;
            case GeneratedSourceSpec g:
                w.WriteStartObject("generated");
                w.WriteNumber("tokens", g.Tokens.Value);
                w.WriteNumber("seed", g.Seed.Value);
                w.WriteEndObject();
                break;
        }
        w.WriteNumber("context", d.Context.Value);
        w.WriteNumber("max_tokens", d.MaxTokens.Value);
        w.WriteEndObject();
    }

    private static void WriteCalibration(Utf8JsonWriter w, CompileResult r)
    {
        w.WriteStartObject("calibration");
        w.WriteNumber("tokens", r.Calibration.Tokens);
        w.WriteNumber("windows", r.Calibration.Windows);
        w.WriteString("method", RangeEstimators.NameOf(r.Spec.CalibrationMethod.Method.Value));
        if (r.Spec.CalibrationMethod.Method.Value == CalibrationMethod.Percentile) Number(w, "percentile", r.Spec.CalibrationMethod.Percentile.Value);
        w.WriteEndObject();
    }

    private static void WriteLayers(Utf8JsonWriter w, CompileResult r)
    {
        var candidates = r.Candidates.ToDictionary(c => c.Name, StringComparer.Ordinal);
        w.WriteStartArray("layers");
        foreach (var d in r.Decisions)
        {
            var l = d.Layer;
            w.WriteStartObject();
            w.WriteString("name", l.Name);
            w.WriteString("op", l.Node.OpType);
            w.WriteString("node", l.Node.Name);
            w.WriteString("weight", l.WeightInitializer);
            w.WriteString("activation", l.ActivationInput);
            w.WriteStartArray("shape");
            w.WriteNumberValue(l.InFeatures);
            w.WriteNumberValue(l.OutFeatures);
            w.WriteEndArray();
            w.WriteNumber("parameters", l.Parameters);
            w.WriteString("decision", d.Precision.ToString().ToLowerInvariant());
            w.WriteString("reason", d.Reason);
            Evidence(w, d.Evidence);
            if (candidates.TryGetValue(l.Name, out var c))
            {
                w.WriteString("role", LayerRoles.Name(c.Role));
                Number(w, "relative_depth", c.RelativeDepth);
                w.WriteStartObject("weight_statistics");
                Number(w, "abs_max", c.Weight.AbsMax);
                Number(w, "std", c.Weight.Std);
                Number(w, "kurtosis", c.Weight.Kurtosis);
                Number(w, "channel_range_spread", c.Weight.ChannelRangeSpread);
                w.WriteEndObject();
            }
            if (r.Int8.TryGetValue(l.Name, out var q))
            {
                w.WriteStartObject("int8");
                Number(w, "activation_scale", q.Activation.Scale);
                w.WriteNumber("activation_zero_point", q.Activation.ZeroPoint);
                Number(w, "weight_scale_min", q.WeightScaleMin);
                Number(w, "weight_scale_max", q.WeightScaleMax);
                w.WriteEndObject();
            }
            Statistics(w, r.Statistics[l.Name]);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static void Evidence(Utf8JsonWriter w, LayerEvidence e)
    {
        w.WriteStartObject("evidence");
        w.WriteString("rule", e.Rule);
        OptionalNumber(w, "predicted_risk", e.PredictedRisk);
        OptionalNumber(w, "spike_score", e.SpikeScore);
        OptionalNumber(w, "kurtosis", e.Kurtosis);
        OptionalNumber(w, "measured_increase_pct", e.MeasuredIncreasePct);
        OptionalNumber(w, "measured_kl", e.MeasuredKl);
        Nullable(w, "override", e.Override);
        if (e.FallbackStep is { } step) w.WriteNumber("fallback_step", step);
        else w.WriteNull("fallback_step");
        w.WriteEndObject();
    }

    private static void WriteFallbackSteps(Utf8JsonWriter w, CompileResult r)
    {
        w.WriteStartArray("fallback_steps");
        foreach (var step in r.FallbackSteps)
        {
            w.WriteStartObject();
            w.WriteNumber("step", step.Step);
            w.WriteStartArray("moved_back");
            foreach (var name in step.MovedBack) w.WriteStringValue(name);
            w.WriteEndArray();
            w.WriteNumber("int8_layers", step.Int8Layers);
            Number(w, "perplexity_increase_pct", step.PerplexityIncreasePct);
            w.WriteBoolean("passed", step.Passed);
            Nullable(w, "failed_gate", step.FailedGate);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    /// <summary>A YAML scalar as a JSON number when it reads as one, else as a string; sequences as arrays.</summary>
    private static void Yaml(Utf8JsonWriter w, YamlDotNet.RepresentationModel.YamlNode node)
    {
        switch (node)
        {
            case YamlDotNet.RepresentationModel.YamlScalarNode { Value: { } v } when double.TryParse(v, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var d) && double.IsFinite(d):
                w.WriteNumberValue(Rounded(d));
                break;
            case YamlDotNet.RepresentationModel.YamlScalarNode scalar:
                w.WriteStringValue(scalar.Value);
                break;
            case YamlDotNet.RepresentationModel.YamlSequenceNode seq:
                w.WriteStartArray();
                foreach (var item in seq.Children) Yaml(w, item);
                w.WriteEndArray();
                break;
            default:
                w.WriteNullValue();
                break;
        }
    }

    private static void OptionalNumber(Utf8JsonWriter w, string name, double? value)
    {
        if (value is { } v) Number(w, name, v);
        else w.WriteNull(name);
    }

    private static void Statistics(Utf8JsonWriter w, ActivationSummary s)
    {
        w.WriteStartObject("statistics");
        w.WriteNumber("values", s.Values);
        w.WriteNumber("tokens", s.Tokens);
        w.WriteNumber("channels", s.Channels);
        Number(w, "min", s.Min);
        Number(w, "max", s.Max);
        Number(w, "abs_max", s.AbsMax);
        Number(w, "mean", s.Mean);
        Number(w, "std", s.Std);
        Number(w, "kurtosis", s.Kurtosis);
        Number(w, "skewness", s.Skewness);
        Number(w, "abs_p99", s.AbsP99);
        Number(w, "abs_p999", s.AbsP999);
        Number(w, "abs_p9999", s.AbsP9999);
        Number(w, "outlier_ratio", s.OutlierRatio);
        Number(w, "spike_score", s.SpikeScore);
        Number(w, "channel_abs_max_median", s.ChannelAbsMaxMedian);
        Number(w, "token_abs_max_mean", s.TokenAbsMaxMean);
        Number(w, "token_abs_max_max", s.TokenAbsMaxMax);
        w.WriteStartArray("top_channels");
        foreach (var c in s.TopChannels) w.WriteNumberValue(c);
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteMetrics(Utf8JsonWriter w, CompileResult r)
    {
        w.WriteStartObject("metrics");
        var primary = r.Providers.FirstOrDefault(p => p.Status == ProviderStatus.Ok);
        if (primary is not null)
        {
            w.WriteString("provider", primary.Provider);
            Comparison(w, primary);
        }
        w.WriteNumber("evaluation_tokens", r.EvaluationTokens);
        w.WriteNumber("layers", r.Decisions.Count);
        w.WriteNumber("int8_layers", r.Int8Layers);
        w.WriteNumber("fp16_layers", r.Decisions.Count(d => d.Precision == LayerPrecision.Fp16));
        w.WriteNumber("fp32_layers", r.Decisions.Count(d => d.Precision == LayerPrecision.Fp32));
        Number(w, "int8_fraction", r.Int8ParameterFraction);
        if (r.Int8FusedOnCpu is { } fused) w.WriteNumber("int8_fused_on_cpu", fused);
        else w.WriteNull("int8_fused_on_cpu");
        w.WriteString("policy", r.Spec.Policy.Kind);
        w.WriteString("kept_layers", string.Join("; ", r.Decisions.Where(d => !d.IsInt8).Select(d => $"{d.Layer.Name} ({PolicyOverrides.Name(d.Precision)}: {d.Evidence.Override ?? d.Evidence.Rule})")));
        w.WriteNumber("fp32_weight_bytes", r.Fp32WeightBytes);
        w.WriteNumber("quantized_weight_bytes", r.QuantizedWeightBytes);
        w.WriteEndObject();
    }

    /// <summary>fp32 vs quantized figures of one provider (in "providers" and, for the first one, in "metrics").</summary>
    private static void Comparison(Utf8JsonWriter w, ProviderValidation p)
    {
        Number(w, "fp32_perplexity", p.Fp32Perplexity);
        Number(w, "quantized_perplexity", p.QuantizedPerplexity);
        Number(w, "perplexity_increase_pct", p.PerplexityIncreasePct);
        Number(w, "mean_kl_divergence", p.MeanKlDivergence);
        Number(w, "top1_agreement", p.Top1Agreement);
    }

    private static void Tensors(Utf8JsonWriter w, string name, IReadOnlyList<TensorSignature> tensors)
    {
        w.WriteStartArray(name);
        foreach (var t in tensors)
        {
            w.WriteStartObject();
            w.WriteString("name", t.Name);
            w.WriteString("element_type", t.ElementType);
            w.WriteStartArray("shape");
            foreach (var d in t.Shape)
            {
                switch (d)
                {
                    case long n: w.WriteNumberValue(n); break;
                    case string s: w.WriteStringValue(s); break;
                    default: w.WriteNullValue(); break;
                }
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    /// <summary>Doubles are written with 9 significant digits: enough for any decision, stable across platforms' last-bit noise.</summary>
    private static void Number(Utf8JsonWriter w, string name, double value)
    {
        if (!double.IsFinite(value)) w.WriteNull(name);
        else w.WriteNumber(name, Rounded(value));
    }

    private static double Rounded(double value) =>
        double.Parse(value.ToString("G9", System.Globalization.CultureInfo.InvariantCulture), System.Globalization.CultureInfo.InvariantCulture);

    private static void Nullable(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null) w.WriteNull(name);
        else w.WriteString(name, value);
    }

    private static void NullableInt(Utf8JsonWriter w, string name, int? value)
    {
        if (value is null) w.WriteNull(name);
        else w.WriteNumber(name, value.Value);
    }
}

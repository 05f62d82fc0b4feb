using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.ML;
using ModelCompiler.Onnx;

namespace ModelCompiler.Policies;

/// <summary>
/// The predictor file <c>modelc train-predictor</c> writes: one line of UTF-8 JSON (the header: format, version,
/// trainer, feature names, training rows, cross-validation figures, the model's length and SHA-256), a '\n', then the
/// ML.NET model zip with fixed entry times. <c>head -1 file</c> shows what it is; the same training gives the same bytes.
/// </summary>
public static class PredictorFile
{
    public const string FormatName = "modelcompiler-predictor";
    public const int FormatVersion = 1;
    public const string BuiltinResourceName = "ModelCompiler.Policies.builtin.predictor";
    public const string BuiltinSource = "builtin";

    /// <summary>Headers longer than this are not ours (guards against reading a large foreign file as JSON).</summary>
    private const int MaxHeaderBytes = 1 << 20;

    private static readonly Lazy<StoredPredictor> Builtin = new(LoadBuiltinCore);

    public static byte[] Serialize(TrainedPredictor predictor)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            var h = predictor.Header;
            w.WriteStartObject();
            w.WriteString("format", FormatName);
            w.WriteNumber("version", FormatVersion);
            w.WriteString("trainer", h.Trainer);
            w.WriteStartArray("feature_names");
            foreach (var n in h.FeatureNames) w.WriteStringValue(n);
            w.WriteEndArray();
            w.WriteString("label_threshold_note", h.LabelThresholdNote);
            w.WriteStartObject("training");
            w.WriteStartArray("models");
            foreach (var m in h.Models) w.WriteStringValue(m);
            w.WriteEndArray();
            w.WriteNumber("rows", h.Rows);
            w.WriteNumber("positives", h.Positives);
            Number(w, "mean_increase_pct_sensitive", h.MeanIncreasePctSensitive);
            Number(w, "mean_increase_pct_other", h.MeanIncreasePctOther);
            w.WriteEndObject();
            w.WriteStartArray("cv");
            foreach (var s in h.CrossValidation)
            {
                w.WriteStartObject();
                w.WriteString("trainer", s.Trainer);
                w.WriteNumber("folds", s.Folds);
                Number(w, "accuracy", s.Accuracy);
                Number(w, "auc", s.Auc);
                Number(w, "f1", s.F1);
                w.WriteNumber("degenerate_folds", s.DegenerateFolds);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteNumber("model_bytes", predictor.Model.Length);
            w.WriteString("model_sha256", Convert.ToHexStringLower(SHA256.HashData(predictor.Model)));
            w.WriteEndObject();
        }
        ms.WriteByte((byte)'\n');
        ms.Write(predictor.Model);
        return ms.ToArray();
    }

    /// <summary>Writes the file atomically.</summary>
    public static void Save(string path, TrainedPredictor predictor) => AtomicFile.WriteAllBytes(path, Serialize(predictor));

    /// <param name="source">How the spec names it, for <see cref="ILayerRiskPredictor.Source"/>.</param>
    public static StoredPredictor Load(string path, string source)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
            throw new ModelCompilerException(PredictorCodes.PredictorFileNotFound, "predictor file not found; check the path (modelc train-predictor writes it).", full);
        return Read(File.ReadAllBytes(full), full, source);
    }

    /// <summary>The predictor that ships inside modelc (loaded once; it is thread-safe).</summary>
    public static StoredPredictor LoadBuiltin() => Builtin.Value;

    private static StoredPredictor LoadBuiltinCore()
    {
        using var stream = typeof(PredictorFile).Assembly.GetManifestResourceStream(BuiltinResourceName)
            ?? throw new InvalidOperationException($"modelc was built without its embedded resource {BuiltinResourceName}.");
        using var ms = new MemoryStream();
        stream.CopyTo(ms);
        return Read(ms.ToArray(), BuiltinSource, BuiltinSource);
    }

    /// <summary>Parses a predictor file's bytes; <paramref name="file"/> names it in errors.</summary>
    public static StoredPredictor Read(byte[] bytes, string file, string source)
    {
        var (header, model) = ReadHeader(bytes, file);
        var expected = LayerFeatures.Names;
        if (!header.FeatureNames.SequenceEqual(expected, StringComparer.Ordinal))
        {
            var missing = expected.Except(header.FeatureNames, StringComparer.Ordinal).ToList();
            var extra = header.FeatureNames.Except(expected, StringComparer.Ordinal).ToList();
            var diff = new List<string>();
            if (missing.Count > 0) diff.Add($"lacks {string.Join(", ", missing)}");
            if (extra.Count > 0) diff.Add($"has {string.Join(", ", extra)} that this modelc does not compute");
            if (diff.Count == 0) diff.Add("the same names in another order");
            throw new ModelCompilerException(PredictorCodes.PredictorFeatureMismatch,
                $"the predictor was trained on other features than this modelc computes ({string.Join("; ", diff)}); retrain it with 'modelc train-predictor' on a CSV from this modelc's 'modelc sensitivity'.",
                file);
        }
        var ml = new MLContext(seed: 1);
        ITransformer transformer;
        try
        {
            transformer = ml.Model.Load(new MemoryStream(model, writable: false), out _);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw Corrupt(file, $"its ML.NET model does not load ({e.GetType().Name}: {e.Message})", e);
        }
        return new StoredPredictor(source, header, ml, transformer);
    }

    /// <summary>Reads and checks the header; returns it and the model bytes it describes.</summary>
    public static (PredictorHeader Header, byte[] Model) ReadHeader(byte[] bytes, string file)
    {
        var newline = Array.IndexOf(bytes, (byte)'\n', 0, Math.Min(bytes.Length, MaxHeaderBytes));
        if (newline < 0) throw Corrupt(file, "no header line");
        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(bytes.AsMemory(0, newline));
            root = doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw Corrupt(file, "its header is not JSON", e);
        }
        if (root.ValueKind != JsonValueKind.Object || String(root, "format", file, optional: true) != FormatName)
            throw Corrupt(file, $"its header does not say format \"{FormatName}\"");
        var version = Int(root, "version", file);
        if (version != FormatVersion)
            throw Corrupt(file, $"format version {version}; this modelc reads version {FormatVersion} (retrain it with this modelc)");
        try
        {
            var training = root.GetProperty("training");
            var header = new PredictorHeader(
                String(root, "trainer", file),
                root.GetProperty("feature_names").EnumerateArray().Select(e => e.GetString()!).ToArray(),
                String(root, "label_threshold_note", file),
                training.GetProperty("models").EnumerateArray().Select(e => e.GetString()!).ToArray(),
                Int(training, "rows", file),
                Int(training, "positives", file),
                root.GetProperty("cv").EnumerateArray().Select(s => new TrainerScore(
                    String(s, "trainer", file), Int(s, "folds", file), Double(s, "accuracy"), Double(s, "auc"), Double(s, "f1"), Int(s, "degenerate_folds", file))).ToArray())
            {
                MeanIncreasePctSensitive = Double(training, "mean_increase_pct_sensitive"),
                MeanIncreasePctOther = Double(training, "mean_increase_pct_other"),
            };
            var length = Int(root, "model_bytes", file);
            var sha = String(root, "model_sha256", file);
            var model = bytes.AsSpan(newline + 1);
            if (model.Length != length)
                throw Corrupt(file, $"the header announces a {length}-byte model but {model.Length} bytes follow (truncated or appended to)");
            if (!string.Equals(Convert.ToHexStringLower(SHA256.HashData(model)), sha, StringComparison.Ordinal))
                throw Corrupt(file, "the model's SHA-256 differs from the header's (the file was altered)");
            return (header, model.ToArray());
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw Corrupt(file, $"its header lacks or misspells a field ({e.Message})", e);
        }
    }

    private static ModelCompilerException Corrupt(string file, string why, Exception? inner = null) =>
        new(PredictorCodes.PredictorFileCorrupt, $"not a valid predictor file: {why}; write it with 'modelc train-predictor'.", file, inner: inner);

    private static void Number(Utf8JsonWriter w, string name, double value)
    {
        if (double.IsFinite(value)) w.WriteNumber(name, value);
        else w.WriteNull(name);
    }

    private static string? String(JsonElement e, string name, string file, bool optional) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()
        : optional ? null : throw Corrupt(file, $"its header has no text '{name}'");

    private static string String(JsonElement e, string name, string file) => String(e, name, file, optional: false)!;

    private static int Int(JsonElement e, string name, string file) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i
        : throw Corrupt(file, $"its header has no integer '{name}'");

    private static double Double(JsonElement e, string name) =>
        e.GetProperty(name) is { ValueKind: JsonValueKind.Null } ? double.NaN : e.GetProperty(name).GetDouble();
}

/// <summary>
/// A loaded predictor file. <see cref="Predict"/> is thread-safe: ML.NET's prediction engine is not, so one engine,
/// created once, is used under a lock (a call costs microseconds; policies call it once per layer).
/// </summary>
public sealed class StoredPredictor : ILayerRiskPredictor
{
    private readonly PredictionEngine<FeatureRow, ScoreRow> _engine;
    private readonly FeatureRow _input = new() { Features = new float[LayerFeatures.Names.Count] };
    private ScoreRow _output = new();
    private readonly Lock _lock = new();

    internal StoredPredictor(string source, PredictorHeader header, MLContext ml, ITransformer model)
    {
        Source = source;
        Header = header;
        _engine = ml.Model.CreatePredictionEngine<FeatureRow, ScoreRow>(model, ignoreMissingColumns: true, inputSchemaDefinition: FeatureRow.Schema());
    }

    public string Source { get; }

    public string Trainer => Header.Trainer;

    public PredictorHeader Header { get; }

    public double MeanIncreasePctSensitive => Header.MeanIncreasePctSensitive;

    public double MeanIncreasePctOther => Header.MeanIncreasePctOther;

    public double Predict(ReadOnlySpan<float> features)
    {
        if (features.Length != _input.Features.Length)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"{features.Length} features given; the predictor reads {_input.Features.Length} (LayerFeatures.Names)."), nameof(features));
        lock (_lock)
        {
            features.CopyTo(_input.Features);
            _engine.Predict(_input, ref _output);
            return Math.Clamp(_output.Probability, 0f, 1f);
        }
    }
}

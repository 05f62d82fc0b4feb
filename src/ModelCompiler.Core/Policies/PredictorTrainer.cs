using System.IO.Compression;
using System.Text.RegularExpressions;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using Microsoft.ML.Trainers.FastTree;

namespace ModelCompiler.Policies;

/// <summary>Cross-validated figures of one trainer, pooled over the out-of-fold predictions of all folds.</summary>
/// <param name="Auc">NaN when the pooled rows hold a single class (AUC undefined).</param>
/// <param name="DegenerateFolds">Folds whose training part held one class; their rows got that class's constant.</param>
public sealed record TrainerScore(string Trainer, int Folds, double Accuracy, double Auc, double F1, int DegenerateFolds = 0);

/// <summary>A trained predictor before it becomes a file: what the header records, and the ML.NET model (a zip, normalized).</summary>
public sealed record TrainedPredictor(PredictorHeader Header, byte[] Model);

/// <summary>What a predictor file says about itself.</summary>
/// <param name="Models">The models of the training rows, ordinal order.</param>
public sealed record PredictorHeader(
    string Trainer,
    IReadOnlyList<string> FeatureNames,
    string LabelThresholdNote,
    IReadOnlyList<string> Models,
    int Rows,
    int Positives,
    IReadOnlyList<TrainerScore> CrossValidation)
{
    /// <summary>Mean measured perplexity increase (%) of the training rows labelled sensitive: what a risk of 1 expects.</summary>
    public double MeanIncreasePctSensitive { get; init; }

    /// <summary>Mean measured perplexity increase (%) of the other training rows: what a risk of 0 expects.</summary>
    public double MeanIncreasePctOther { get; init; }
}

public sealed record PredictorTrainingOptions
{
    /// <summary>At most this many folds: leave-one-model-out up to this many models, else this many folds of whole models.</summary>
    public int MaxFolds { get; init; } = 10;

    /// <summary>The trainers to compare (names in <see cref="PredictorTrainer.Trainers"/>); null: all.</summary>
    public IReadOnlyList<string>? Trainers { get; init; }

    public string LabelThresholdNote { get; init; } =
        "label 1: quantizing this layer alone to INT8 raised NLL by more than the threshold modelc sensitivity used";
}

/// <summary>
/// Trains the ALMP layer-risk classifier on sensitivity rows with ML.NET: each trainer is cross-validated with folds of
/// whole models (no model's layers on both sides), the best by AUC (ties: F1, then table order) is retrained on all rows.
/// Deterministic: a fresh <c>MLContext(seed: 1)</c> per fit, one thread per trainer, and a normalized model zip.
/// </summary>
public static class PredictorTrainer
{
    public const string LogisticRegression = "LbfgsLogisticRegression";
    public const string FastTree = "FastTree";

    private sealed record TrainerKind(string Name, Func<MLContext, IEstimator<ITransformer>> Build);

    // One row per trainer; a new trainer is a new row.
    private static readonly TrainerKind[] Kinds =
    [
        new(LogisticRegression, ml => ml.Transforms.NormalizeMeanVariance(FeatureRow.FeaturesColumn)
            .Append(ml.BinaryClassification.Trainers.LbfgsLogisticRegression(new LbfgsLogisticRegressionBinaryTrainer.Options
            {
                LabelColumnName = FeatureRow.LabelColumn,
                FeatureColumnName = FeatureRow.FeaturesColumn,
                NumberOfThreads = 1,
            }))),
        new(FastTree, ml => ml.BinaryClassification.Trainers.FastTree(new FastTreeBinaryTrainer.Options
        {
            LabelColumnName = FeatureRow.LabelColumn,
            FeatureColumnName = FeatureRow.FeaturesColumn,
            NumberOfThreads = 1,
            NumberOfTrees = 100,
            NumberOfLeaves = 8,
            MinimumExampleCountPerLeaf = 5,
        })),
    ];

    public static IReadOnlyList<string> Trainers { get; } = Kinds.Select(k => k.Name).ToArray();

    /// <summary>Whole DOS-era timestamp for every entry of the saved model zip: ML.NET stamps the current time.</summary>
    internal static readonly DateTimeOffset ZipEntryTime = new(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>
    /// The fold of each row, from its model: with at most <paramref name="maxFolds"/> models one fold per model
    /// (ordinal order of names), else <paramref name="maxFolds"/> folds filled with whole models, largest first, each
    /// into the fold holding fewest rows so far (ties: lowest fold). Rows of a model always share a fold.
    /// </summary>
    public static int[] AssignFolds(IReadOnlyList<string> models, int maxFolds)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxFolds, 2);
        var counts = models.GroupBy(m => m, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var foldOf = new Dictionary<string, int>(StringComparer.Ordinal);
        if (counts.Count <= maxFolds)
        {
            var i = 0;
            foreach (var m in counts.Keys.Order(StringComparer.Ordinal)) foldOf[m] = i++;
        }
        else
        {
            var load = new int[maxFolds];
            foreach (var (m, n) in counts.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal))
            {
                var best = 0;
                for (var f = 1; f < maxFolds; f++) if (load[f] < load[best]) best = f;
                foldOf[m] = best;
                load[best] += n;
            }
        }
        return models.Select(m => foldOf[m]).ToArray();
    }

    public static TrainedPredictor Train(IReadOnlyList<SensitivityRow> rows, PredictorTrainingOptions? options = null, Action<string>? log = null)
    {
        options ??= new PredictorTrainingOptions();
        var kinds = options.Trainers is null
            ? Kinds
            : options.Trainers.Select(n => Kinds.FirstOrDefault(k => k.Name == n)
                ?? throw new ArgumentException($"unknown trainer '{n}'; known: {string.Join(", ", Trainers)}", nameof(options))).ToArray();
        var models = rows.Select(r => r.Model).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var positives = rows.Count(r => r.Label);
        if (models.Count < 2)
            throw new ModelCompilerException(PredictorCodes.TrainingDataInsufficient,
                $"the rows come from {models.Count} model(s); grouped cross-validation needs layers of at least 2 models (run modelc sensitivity on another model).");
        if (positives == 0 || positives == rows.Count)
            throw new ModelCompilerException(PredictorCodes.TrainingDataInsufficient,
                $"all {rows.Count} rows have label {(positives == 0 ? 0 : 1)}; a classifier needs layers of both kinds (change the sensitivity threshold or add models).");
        foreach (var r in rows)
            if (r.Features.Count != LayerFeatures.Names.Count)
                throw new ArgumentException($"row {r.Model}/{r.Layer} has {r.Features.Count} features; expected {LayerFeatures.Names.Count}.", nameof(rows));

        var folds = AssignFolds(rows.Select(r => r.Model).ToList(), options.MaxFolds);
        var foldCount = folds.Max() + 1;
        var labels = rows.Select(r => r.Label).ToArray();
        var scores = new List<TrainerScore>();
        foreach (var kind in kinds)
        {
            try
            {
                scores.Add(CrossValidate(kind));
            }
            catch (Exception e) when (MissingNativeLibrary(e) is { } missing)
            {
                // ML.NET ships FastTree's native sum-up for x64/x86 only; scoring needs none, so a predictor trained
                // elsewhere still loads here.
                var library = Regex.Match(missing.Message, "library '([^']+)'") is { Success: true } m ? m.Groups[1].Value : "a native library";
                log?.Invoke($"warning: {kind.Name} cannot train on this platform ({library} is missing; ML.NET ships it for x64 and x86); skipping it");
            }
        }
        if (scores.Count == 0)
            throw new ModelCompilerException("MC3000", "no trainer can run on this platform (their native libraries are missing).");

        TrainerScore CrossValidate(TrainerKind kind)
        {
            var oof = new double[rows.Count];
            var degenerate = 0;
            for (var f = 0; f < foldCount; f++)
            {
                log?.Invoke($"[cv] {kind.Name} fold {f + 1}/{foldCount}");
                var train = Enumerable.Range(0, rows.Count).Where(i => folds[i] != f).ToList();
                var test = Enumerable.Range(0, rows.Count).Where(i => folds[i] == f).ToList();
                var trainPositives = train.Count(i => labels[i]);
                if (trainPositives == 0 || trainPositives == train.Count)
                {
                    degenerate++;
                    foreach (var i in test) oof[i] = trainPositives == 0 ? 0 : 1;
                    continue;
                }
                var (ml, model) = Fit(kind, train.Select(i => rows[i]));
                var predicted = Score(ml, model, test.Select(i => rows[i]));
                for (var j = 0; j < test.Count; j++) oof[test[j]] = predicted[j];
            }
            var score = new TrainerScore(kind.Name, foldCount, Accuracy(labels, oof), Auc(labels, oof), F1(labels, oof), degenerate);
            log?.Invoke($"[cv] {kind.Name}: accuracy {score.Accuracy:F4}, AUC {score.Auc:F4}, F1 {score.F1:F4}");
            return score;
        }

        var best = scores
            .Select((s, i) => (s, i))
            .OrderByDescending(x => double.IsNaN(x.s.Auc) ? double.NegativeInfinity : x.s.Auc)
            .ThenByDescending(x => x.s.F1)
            .ThenBy(x => x.i)
            .First().s;
        log?.Invoke($"[train] {best.Trainer} on all {rows.Count} rows of {models.Count} models");
        var (finalMl, final) = Fit(kinds.First(k => k.Name == best.Trainer), rows);
        var header = new PredictorHeader(best.Trainer, LayerFeatures.Names.ToArray(), options.LabelThresholdNote, models, rows.Count, positives, scores)
        {
            MeanIncreasePctSensitive = rows.Where(r => r.Label).Average(r => r.DeltaNllPct),
            MeanIncreasePctOther = rows.Where(r => !r.Label).Average(r => r.DeltaNllPct),
        };
        return new TrainedPredictor(header, SaveModel(finalMl, final));
    }

    private static DllNotFoundException? MissingNativeLibrary(Exception e) => e switch
    {
        DllNotFoundException d => d,
        AggregateException a => a.InnerExceptions.Select(MissingNativeLibrary).FirstOrDefault(x => x is not null),
        { InnerException: { } inner } => MissingNativeLibrary(inner),
        _ => null,
    };

    /// <summary>Fits one trainer and scores rows in memory (no file in between): the reference a loaded file must match.</summary>
    internal static double[] FitAndScore(string trainer, IEnumerable<SensitivityRow> train, IEnumerable<SensitivityRow> test)
    {
        var (ml, model) = Fit(Kinds.First(k => k.Name == trainer), train);
        return Score(ml, model, test);
    }

    private static (MLContext, ITransformer) Fit(TrainerKind kind, IEnumerable<SensitivityRow> rows)
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(rows.Select(FeatureRow.Of), FeatureRow.Schema());
        return (ml, kind.Build(ml).Fit(data));
    }

    private static double[] Score(MLContext ml, ITransformer model, IEnumerable<SensitivityRow> rows)
    {
        var data = model.Transform(ml.Data.LoadFromEnumerable(rows.Select(FeatureRow.Of), FeatureRow.Schema()));
        return ml.Data.CreateEnumerable<ScoreRow>(data, reuseRowObject: false).Select(s => (double)s.Probability).ToArray();
    }

    /// <summary>The model as ML.NET saves it, re-zipped with fixed timestamps and no compression (byte-stable across runs and zlib builds).</summary>
    private static byte[] SaveModel(MLContext ml, ITransformer model)
    {
        using var raw = new MemoryStream();
        ml.Model.Save(model, ml.Data.LoadFromEnumerable(Array.Empty<FeatureRow>(), FeatureRow.Schema()).Schema, raw);
        raw.Position = 0;
        using var source = new ZipArchive(raw, ZipArchiveMode.Read);
        using var normalized = new MemoryStream();
        using (var target = new ZipArchive(normalized, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var entry in source.Entries.OrderBy(e => e.FullName, StringComparer.Ordinal))
            {
                var copy = target.CreateEntry(entry.FullName, CompressionLevel.NoCompression);
                copy.LastWriteTime = ZipEntryTime;
                using var from = entry.Open();
                using var to = copy.Open();
                from.CopyTo(to);
            }
        }
        return normalized.ToArray();
    }

    /// <summary>Fraction of rows whose probability ≥ 0.5 matches the label.</summary>
    public static double Accuracy(IReadOnlyList<bool> labels, IReadOnlyList<double> p) =>
        (double)Enumerable.Range(0, labels.Count).Count(i => (p[i] >= 0.5) == labels[i]) / labels.Count;

    /// <summary>F1 of the positive class at probability ≥ 0.5; 0 when nothing is predicted or labelled positive.</summary>
    public static double F1(IReadOnlyList<bool> labels, IReadOnlyList<double> p)
    {
        int tp = 0, fp = 0, fn = 0;
        for (var i = 0; i < labels.Count; i++)
        {
            var predicted = p[i] >= 0.5;
            if (predicted && labels[i]) tp++;
            else if (predicted) fp++;
            else if (labels[i]) fn++;
        }
        return tp == 0 ? 0 : 2.0 * tp / (2.0 * tp + fp + fn);
    }

    /// <summary>Area under the ROC curve by Mann-Whitney: P(score of a positive > score of a negative), ties count half. NaN with one class.</summary>
    public static double Auc(IReadOnlyList<bool> labels, IReadOnlyList<double> p)
    {
        var order = Enumerable.Range(0, labels.Count).OrderBy(i => p[i]).ToArray();
        var ranks = new double[labels.Count];
        for (var i = 0; i < order.Length;)
        {
            var j = i;
            while (j + 1 < order.Length && p[order[j + 1]] == p[order[i]]) j++;
            var rank = (i + j) / 2.0 + 1;
            for (var k = i; k <= j; k++) ranks[order[k]] = rank;
            i = j + 1;
        }
        double pos = labels.Count(l => l), neg = labels.Count - pos;
        if (pos == 0 || neg == 0) return double.NaN;
        var sum = Enumerable.Range(0, labels.Count).Where(i => labels[i]).Sum(i => ranks[i]);
        return (sum - pos * (pos + 1) / 2) / (pos * neg);
    }
}

/// <summary>An ML.NET input row: the features as one vector column, the label.</summary>
internal sealed class FeatureRow
{
    internal const string FeaturesColumn = "Features";
    internal const string LabelColumn = "Label";

    public bool Label { get; set; }

    public float[] Features { get; set; } = [];

    internal static FeatureRow Of(SensitivityRow r) => new() { Label = r.Label, Features = r.Features.ToArray() };

    /// <summary>The vector's length is known only at run time (LayerFeatures.Names), so the schema says it.</summary>
    internal static SchemaDefinition Schema()
    {
        var schema = SchemaDefinition.Create(typeof(FeatureRow));
        schema[FeaturesColumn].ColumnType = new VectorDataViewType(NumberDataViewType.Single, LayerFeatures.Names.Count);
        return schema;
    }
}

/// <summary>An ML.NET output row: the calibrated probability of label 1.</summary>
internal sealed class ScoreRow
{
    public float Probability { get; set; }
}

using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using ModelCompiler.Policies;

namespace ModelCompiler.Tests.Policies;

/// <summary>One training on informative synthetic rows, shared by the tests that only read it.</summary>
public sealed class TrainedFixture : IDisposable
{
    public TrainedFixture()
    {
        Rows = SyntheticSensitivity.Rows(models: 6, layersPerModel: 40, seed: 7, noise: 0.2, threshold: 0.3);
        Trained = PredictorTrainer.Train(Rows);
        Bytes = PredictorFile.Serialize(Trained);
        Directory = TestPaths.NewTempDir("mc-predictor");
        Path = System.IO.Path.Combine(Directory, "p.predictor");
        PredictorFile.Save(Path, Trained);
    }

    public IReadOnlyList<SensitivityRow> Rows { get; }
    public TrainedPredictor Trained { get; }
    public byte[] Bytes { get; }
    public string Directory { get; }
    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Directory, name);

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}

public sealed class SensitivityTableTests
{
    private static readonly string Header = "model,layer,role," + string.Join(',', LayerFeatures.Names) + ",delta_nll_pct,kl,label";

    private static float[] Features(float first, float rest)
    {
        var f = Enumerable.Repeat(rest, LayerFeatures.Names.Count).ToArray();
        f[0] = first;
        return f;
    }

    private static string Csv(params SensitivityRow[] rows)
    {
        var w = new StringWriter(CultureInfo.InvariantCulture);
        SensitivityTable.Write(w, rows);
        return w.ToString();
    }

    [Fact]
    public void Writes_the_header_and_rows_in_the_documented_form()
    {
        var text = Csv(new SensitivityRow("m", "model.layers.0.mlp.down_proj", "down", Features(1.25f, 0.5f), 0.75, 0.001, true));
        var expected = Header + "\n" + "m,model.layers.0.mlp.down_proj,down,1.25" + string.Concat(Enumerable.Repeat(",0.5", LayerFeatures.Names.Count - 1)) + ",0.75,0.001,1\n";
        Assert.Equal(expected, text);
    }

    [Fact]
    public void Round_trip_keeps_names_and_every_bit_of_the_numbers()
    {
        var odd = new[] { 1e-30f, -0f, 3.4028235e38f, 0.1f, -123.456f, 1f / 3, float.Epsilon };
        var rows = new List<SensitivityRow>();
        for (var i = 0; i < odd.Length; i++)
        {
            var f = Features(odd[i], odd[(i + 3) % odd.Length]);
            rows.Add(new SensitivityRow(
                i % 2 == 0 ? "tiny, \"quoted\" model" : "plain",
                i == 1 ? "line\nbreak" : i == 2 ? " padded " : $"layer{i}",
                "q", f, 0.1 * i - 0.3, 1.0 / (i + 3), i % 3 == 0));
        }
        var text = Csv([.. rows]);
        Assert.Contains("\"tiny, \"\"quoted\"\" model\"", text);
        Assert.Equal(text, Csv([.. rows])); // deterministic

        var back = SensitivityTable.Parse(text, "t.csv");
        Assert.Equal(rows.Count, back.Count);
        for (var i = 0; i < rows.Count; i++)
        {
            Assert.Equal(rows[i].Model, back[i].Model);
            Assert.Equal(rows[i].Layer, back[i].Layer);
            Assert.Equal(rows[i].Role, back[i].Role);
            Assert.Equal(rows[i].Label, back[i].Label);
            Assert.Equal(BitConverter.DoubleToInt64Bits(rows[i].DeltaNllPct), BitConverter.DoubleToInt64Bits(back[i].DeltaNllPct));
            Assert.Equal(BitConverter.DoubleToInt64Bits(rows[i].KlDivergence), BitConverter.DoubleToInt64Bits(back[i].KlDivergence));
            Assert.Equal(rows[i].Features.Select(BitConverter.SingleToInt32Bits), back[i].Features.Select(BitConverter.SingleToInt32Bits));
        }

        // CRLF line ends (a spreadsheet's save) read the same; the quoted newline stays a LF because it was one.
        var crlf = SensitivityTable.Parse(text.Replace("\n", "\r\n").Replace("line\r\nbreak", "line\nbreak"), "t.csv");
        Assert.Equal(back.Select(r => r.Layer), crlf.Select(r => r.Layer));
    }

    [Fact]
    public void Reads_a_file_from_disk_and_reports_a_missing_one()
    {
        var dir = TestPaths.NewTempDir("mc-sens");
        var path = Path.Combine(dir, "s.csv");
        SensitivityTable.Write(path, SyntheticSensitivity.Rows(2, 3, seed: 1));
        Assert.Equal(6, SensitivityTable.Read(path).Count);
        var missing = Path.Combine(dir, "none.csv");
        var e = Assert.Throws<ModelCompilerException>(() => SensitivityTable.Read(missing));
        Assert.Equal("MC1060", e.Code);
        Assert.Equal(missing, e.File);
        Directory.Delete(dir, true);
    }

    [Fact]
    public void Other_feature_columns_name_the_missing_and_extra_ones()
    {
        var text = Csv(new SensitivityRow("m", "l", "q", Features(1, 2), 0, 0, false));
        var changed = text.Replace(",log2_kurtosis,", ",log2_kurtosis_v2,").Replace(",skewness", "");
        var e = Assert.Throws<ModelCompilerException>(() => SensitivityTable.Parse(changed, "t.csv"));
        Assert.Equal("MC1061", e.Code);
        Assert.Equal(("t.csv", 1), (e.File, e.Line));
        Assert.Contains("missing log2_kurtosis, skewness", e.Message);
        Assert.Contains("extra log2_kurtosis_v2", e.Message);

        var swapped = text.Replace(",log2_kurtosis,skewness,", ",skewness,log2_kurtosis,");
        e = Assert.Throws<ModelCompilerException>(() => SensitivityTable.Parse(swapped, "t.csv"));
        Assert.Equal("MC1061", e.Code);
        Assert.Contains("'skewness' where this modelc expects 'log2_kurtosis'", e.Message);

        e = Assert.Throws<ModelCompilerException>(() => SensitivityTable.Parse("", "t.csv"));
        Assert.Equal("MC1061", e.Code);
    }

    [Theory]
    [InlineData("few", 3, 1)]
    [InlineData("number", 3, 0)]
    [InlineData("label", 3, 0)]
    [InlineData("quote", 3, 0)]
    [InlineData("empty-model", 3, 1)]
    [InlineData("nan", 3, 0)]
    public void Malformed_rows_give_the_file_and_line(string kind, int line, int column)
    {
        var good = Csv(
            new SensitivityRow("m", "a", "q", Features(1, 2), 0, 0, false),
            new SensitivityRow("m", "b", "k", Features(1, 2), 0, 0, true)).Split('\n');
        var row = good[2];
        var bad = kind switch
        {
            "few" => row[..row.LastIndexOf(',')],
            "number" => row.Replace("m,b,k,1,", "m,b,k,1x,"),
            "label" => row[..^1] + "2",
            "quote" => row.Replace("m,b,", "m,\"b,"),
            "empty-model" => row[1..],
            "nan" => row.Replace("m,b,k,1,", "m,b,k,NaN,"),
            _ => throw new ArgumentException(kind),
        };
        var text = good[0] + "\n" + good[1] + "\n" + bad + "\n";
        var e = Assert.Throws<ModelCompilerException>(() => SensitivityTable.Parse(text, "t.csv"));
        Assert.Equal("MC1062", e.Code);
        Assert.Equal("t.csv", e.File);
        Assert.Equal(line, e.Line);
        var expectedColumn = kind switch
        {
            "number" or "nan" => "m,b,k,".Length + 1,
            "label" => bad.Length,
            "quote" => "m,".Length + 1,
            _ => column,
        };
        Assert.Equal(expectedColumn, e.Column);
    }
}

public sealed class FoldTests
{
    [Fact]
    public void Few_models_leave_one_model_out_in_name_order()
    {
        string[] models = ["b", "a", "c", "a", "b", "a"];
        Assert.Equal([1, 0, 2, 0, 1, 0], PredictorTrainer.AssignFolds(models, maxFolds: 10));
        Assert.Equal([1, 0, 2, 0, 1, 0], PredictorTrainer.AssignFolds(models, maxFolds: 3));
    }

    [Fact]
    public void Many_models_fill_k_folds_with_whole_models_largest_first()
    {
        // sizes a5 b4 c3 d2 e1, 2 folds: a→0 (5), b→1 (4), c→1 (7), d→0 (7), e→0 (tie 7/7: lowest fold).
        var models = new List<string>();
        foreach (var (m, n) in new[] { ("c", 3), ("a", 5), ("e", 1), ("b", 4), ("d", 2) }) models.AddRange(Enumerable.Repeat(m, n));
        var folds = PredictorTrainer.AssignFolds(models, maxFolds: 2);
        var byModel = models.Zip(folds).GroupBy(x => x.First).ToDictionary(g => g.Key, g => g.Select(x => x.Second).Distinct().Single());
        Assert.Equal(new Dictionary<string, int> { ["a"] = 0, ["b"] = 1, ["c"] = 1, ["d"] = 0, ["e"] = 0 }, byModel);
    }

    [Fact]
    public void No_model_is_split_across_folds()
    {
        var random = new Random(3);
        var models = Enumerable.Range(0, 500).Select(_ => "m" + random.Next(23)).ToList();
        var folds = PredictorTrainer.AssignFolds(models, maxFolds: 5);
        Assert.All(models.Zip(folds).GroupBy(x => x.First), g => Assert.Single(g.Select(x => x.Second).Distinct()));
        Assert.Equal([0, 1, 2, 3, 4], folds.Distinct().Order());
    }

    [Fact]
    public void Metrics_match_hand_computed_values()
    {
        bool[] labels = [true, false, true, false, true];
        double[] p = [0.9, 0.8, 0.6, 0.3, 0.3];
        // positive/negative pairs: 0.9 beats 0.8 and 0.3; 0.6 beats 0.3 only; 0.3 beats neither, ties 0.3 (half) → 3.5 of 6.
        Assert.Equal(3.5 / 6, PredictorTrainer.Auc(labels, p), 12);
        // predicted positive at ≥ 0.5: rows 0,1,2 → tp 2, fp 1, fn 1; accuracy: rows 0,2,3 right.
        Assert.Equal(2.0 * 2 / (2 * 2 + 1 + 1), PredictorTrainer.F1(labels, p), 12);
        Assert.Equal(3.0 / 5, PredictorTrainer.Accuracy(labels, p), 12);
        Assert.True(double.IsNaN(PredictorTrainer.Auc([true, true], [0.1, 0.2])));
    }
}

public sealed class PredictorTests(TrainedFixture f) : IClassFixture<TrainedFixture>
{
    [Fact]
    public void Both_trainers_learn_a_label_that_one_feature_decides()
    {
        var cv = f.Trained.Header.CrossValidation;
        Assert.Equal([PredictorTrainer.LogisticRegression, PredictorTrainer.FastTree], cv.Select(s => s.Trainer));
        Assert.All(cv, s =>
        {
            Assert.Equal(6, s.Folds);
            Assert.True(s.Auc > 0.9, $"{s.Trainer} AUC {s.Auc}");
            Assert.InRange(s.Accuracy, 0.8, 1);
        });
        var best = cv.OrderByDescending(s => s.Auc).ThenByDescending(s => s.F1).First();
        Assert.Equal(best.Trainer, f.Trained.Header.Trainer);
        Assert.Equal(240, f.Trained.Header.Rows);
        Assert.Equal(f.Rows.Count(r => r.Label), f.Trained.Header.Positives);
        Assert.Equal(Enumerable.Range(0, 6).Select(i => $"synthetic-{i}"), f.Trained.Header.Models);
    }

    [Fact]
    public void Features_unrelated_to_the_label_give_auc_near_one_half()
    {
        var rows = SyntheticSensitivity.Rows(models: 6, layersPerModel: 40, seed: 11, informative: false);
        var cv = PredictorTrainer.Train(rows).Header.CrossValidation;
        // 240 rows, ~120 per class: the AUC of a guess has standard deviation ≈ 0.037; 0.15 is four of them.
        Assert.All(cv, s => Assert.InRange(s.Auc, 0.35, 0.65));
    }

    private static IReadOnlyList<SensitivityRow> Unseen() =>
        SyntheticSensitivity.Rows(models: 2, layersPerModel: 40, seed: 99, noise: 0.2, threshold: 0.3, prefix: "unseen");

    [Theory]
    [InlineData(PredictorTrainer.LogisticRegression)]
    [InlineData(PredictorTrainer.FastTree)]
    public void Each_trainer_survives_the_file_and_trains_deterministically(string trainer)
    {
        var options = new PredictorTrainingOptions { Trainers = [trainer] };
        var bytes = PredictorFile.Serialize(PredictorTrainer.Train(f.Rows, options));
        Assert.Equal(bytes, PredictorFile.Serialize(PredictorTrainer.Train(f.Rows, options)));
        var loaded = PredictorFile.Read(bytes, "p", "p");
        Assert.Equal(trainer, loaded.Trainer);
        var unseen = Unseen();
        var inMemory = PredictorTrainer.FitAndScore(trainer, f.Rows, unseen);
        Assert.Equal(inMemory.Select(p => (float)p), unseen.Select(r => (float)loaded.Predict(r.Features.ToArray())));
        Assert.True(PredictorTrainer.Auc(unseen.Select(r => r.Label).ToList(), inMemory) > 0.9);
    }

    [Fact]
    public void A_loaded_file_predicts_what_the_trained_model_predicted()
    {
        var unseen = Unseen();
        var inMemory = PredictorTrainer.FitAndScore(f.Trained.Header.Trainer, f.Rows, unseen);
        var loaded = PredictorFile.Load(f.Path, "p.predictor");
        Assert.Equal("p.predictor", loaded.Source);
        Assert.Equal(f.Trained.Header.Trainer, loaded.Trainer);
        var fromFile = unseen.Select(r => loaded.Predict(r.Features.ToArray())).ToArray();
        Assert.Equal(inMemory.Select(p => (float)p), fromFile.Select(p => (float)p));
        Assert.True(PredictorTrainer.Auc(unseen.Select(r => r.Label).ToList(), fromFile) > 0.9);

        // One engine under a lock: the same answers from many threads.
        var parallel = new double[unseen.Count];
        Parallel.For(0, unseen.Count * 20, i => parallel[i % unseen.Count] = loaded.Predict(unseen[i % unseen.Count].Features.ToArray()));
        Assert.Equal(fromFile, parallel);
        Assert.Throws<ArgumentException>(() => loaded.Predict(new float[3]));
    }

    [Fact]
    public void The_file_is_the_serialized_bytes_with_fixed_zip_times()
    {
        // Two trainings per trainer are compared in Each_trainer_survives_the_file_and_trains_deterministically, and
        // across processes by the placeholder built-in; here: the file is the serialized bytes, its zip times are fixed.
        Assert.Equal(f.Bytes, File.ReadAllBytes(f.Path));

        var (_, model) = PredictorFile.ReadHeader(f.Bytes, "p");
        using var zip = new ZipArchive(new MemoryStream(model));
        Assert.NotEmpty(zip.Entries);
        Assert.All(zip.Entries, e => Assert.Equal(new DateTime(2000, 1, 1), e.LastWriteTime.DateTime));
    }

    [Fact]
    public void The_header_is_one_json_line_with_what_the_brief_names()
    {
        var line = Encoding.UTF8.GetString(f.Bytes, 0, Array.IndexOf(f.Bytes, (byte)'\n'));
        var json = JsonNode.Parse(line)!;
        Assert.Equal("modelcompiler-predictor", (string?)json["format"]);
        Assert.Equal(1, (int?)json["version"]);
        Assert.Equal(LayerFeatures.Names, json["feature_names"]!.AsArray().Select(n => (string)n!));
        Assert.Equal(240, (int?)json["training"]!["rows"]);
        Assert.Equal(2, json["cv"]!.AsArray().Count);
        Assert.Equal(f.Bytes.Length - line.Length - 1, (int?)json["model_bytes"]);
    }

    private ModelCompilerException LoadError(string name, byte[] bytes)
    {
        var path = f.File(name);
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<ModelCompilerException>(() => PredictorFile.Load(path, name));
        Assert.Equal(path, e.File);
        return e;
    }

    /// <summary>The file with its header changed by <paramref name="edit"/>, the model bytes kept.</summary>
    private byte[] WithHeader(Action<JsonNode> edit, byte[]? model = null)
    {
        var newline = Array.IndexOf(f.Bytes, (byte)'\n');
        var json = JsonNode.Parse(f.Bytes.AsSpan(0, newline))!;
        edit(json);
        return [.. Encoding.UTF8.GetBytes(json.ToJsonString()), (byte)'\n', .. model ?? f.Bytes[(newline + 1)..]];
    }

    [Fact]
    public void Missing_file_is_MC1064()
    {
        var path = f.File("none.predictor");
        var e = Assert.Throws<ModelCompilerException>(() => PredictorFile.Load(path, "none.predictor"));
        Assert.Equal(("MC1064", path), (e.Code, e.File));
    }

    [Fact]
    public void Damaged_files_are_MC1065()
    {
        Assert.Equal("MC1065", LoadError("truncated", f.Bytes[..^100]).Code);
        Assert.Equal("MC1065", LoadError("header-only", f.Bytes[..Array.IndexOf(f.Bytes, (byte)'\n')]).Code);
        Assert.Equal("MC1065", LoadError("empty", []).Code);
        Assert.Equal("MC1065", LoadError("csv", Encoding.UTF8.GetBytes("model,layer\nm,l\n")).Code);
        Assert.Equal("MC1065", LoadError("other-format", WithHeader(j => j["format"] = "something-else")).Code);
        Assert.Contains("version 2", LoadError("version", WithHeader(j => j["version"] = 2)).Message);
        Assert.Equal("MC1065", LoadError("no-trainer", WithHeader(j => j.AsObject().Remove("trainer"))).Code);

        var flipped = (byte[])f.Bytes.Clone();
        flipped[^10] ^= 0x55;
        Assert.Contains("SHA-256", LoadError("flipped", flipped).Message);

        // A zip that is not ML.NET's, with a header that matches it: the ML.NET load itself refuses.
        var garbage = Encoding.UTF8.GetBytes("PK\u0003\u0004 this is not a zip archive at all");
        var badZip = WithHeader(j =>
        {
            j["model_bytes"] = garbage.Length;
            j["model_sha256"] = Convert.ToHexStringLower(SHA256.HashData(garbage));
        }, garbage);
        var e = LoadError("bad-zip", badZip);
        Assert.Equal("MC1065", e.Code);
        Assert.Contains("ML.NET model", e.Message);
    }

    [Fact]
    public void Other_feature_names_are_MC1066_listing_the_difference()
    {
        var bytes = WithHeader(j =>
        {
            var names = LayerFeatures.Names.Where(n => n != "skewness").Select(n => n == "log10_std" ? "log10_variance" : n);
            j["feature_names"] = new JsonArray([.. names.Select(n => JsonValue.Create(n))]);
        });
        var e = LoadError("features", bytes);
        Assert.Equal("MC1066", e.Code);
        Assert.Contains("lacks log10_std, skewness", e.Message);
        Assert.Contains("has log10_variance", e.Message);
    }

    [Fact]
    public void Too_few_models_or_one_class_is_MC1063()
    {
        var one = SyntheticSensitivity.Rows(models: 1, layersPerModel: 10, seed: 1);
        Assert.Equal("MC1063", Assert.Throws<ModelCompilerException>(() => PredictorTrainer.Train(one)).Code);
        var negatives = f.Rows.Select(r => r with { Label = false }).ToList();
        Assert.Equal("MC1063", Assert.Throws<ModelCompilerException>(() => PredictorTrainer.Train(negatives)).Code);
    }

    [Fact]
    public void A_fold_trained_on_one_class_does_not_crash_the_cross_validation()
    {
        // Model "b" holds every positive: its fold trains on negatives only.
        var rows = f.Rows.Where(r => r.Model is "synthetic-0" or "synthetic-1").Select(r => r with
        {
            Model = r.Label ? "b" : r.Model,
        }).ToList();
        var trained = PredictorTrainer.Train(rows, new PredictorTrainingOptions { Trainers = [PredictorTrainer.LogisticRegression] });
        var s = Assert.Single(trained.Header.CrossValidation);
        Assert.Equal(3, s.Folds);
        Assert.Equal(1, s.DegenerateFolds);
        Assert.InRange(s.Auc, 0, 1);
    }
}

public sealed class BuiltinPredictorTests
{
    private static string FixtureCsv => Path.Combine(TestPaths.RepoRoot, "tests", "ModelCompiler.Core.Tests", "Policies", "Fixtures", "synthetic-sensitivity.csv");

    [Fact]
    public void The_checked_in_fixture_csv_is_the_generator_s_output()
    {
        var w = new StringWriter(CultureInfo.InvariantCulture);
        SensitivityTable.Write(w, SyntheticSensitivity.Fixture());
        Assert.Equal(w.ToString(), File.ReadAllText(FixtureCsv).Replace("\r\n", "\n")); // a CRLF checkout reads the same
    }

    [Fact]
    public void The_builtin_predictor_loads_and_predicts_probabilities()
    {
        var p = PredictorFile.LoadBuiltin();
        Assert.Same(p, PredictorFile.LoadBuiltin());
        Assert.Equal("builtin", p.Source);
        Assert.Equal(LayerFeatures.Names, p.Header.FeatureNames);
        foreach (var row in SyntheticSensitivity.Rows(1, 10, seed: 5)) Assert.InRange(p.Predict(row.Features.ToArray()), 0, 1);
    }

    /// <summary>
    /// While the built-in is the placeholder (trained on the fixture CSV), training on that CSV again must give its
    /// bytes: determinism across processes and commits. The real built-in (other models) skips the comparison.
    /// </summary>
    [Fact]
    public void The_placeholder_builtin_is_reproduced_by_training_on_the_fixture_csv()
    {
        using var stream = typeof(PredictorFile).Assembly.GetManifestResourceStream(PredictorFile.BuiltinResourceName)!;
        using var ms = new MemoryStream();
        stream.CopyTo(ms);
        var builtin = ms.ToArray();
        var (header, _) = PredictorFile.ReadHeader(builtin, "builtin");
        if (!header.Models.All(m => m.StartsWith("synthetic-", StringComparison.Ordinal))) return;
        var again = PredictorFile.Serialize(PredictorTrainer.Train(SensitivityTable.Read(FixtureCsv)));
        Assert.Equal(Convert.ToHexString(SHA256.HashData(builtin)), Convert.ToHexString(SHA256.HashData(again)));
    }
}

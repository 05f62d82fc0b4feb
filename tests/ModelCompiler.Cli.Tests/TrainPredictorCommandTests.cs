using System.Text.Json;
using ModelCompiler.Policies;
using ModelCompiler.Tests;

namespace ModelCompiler.Cli.Tests;

/// <summary><c>modelc train-predictor</c> out of process on the checked-in synthetic sensitivity CSV (6 models, 180 rows).</summary>
public sealed class TrainPredictorCommandTests : IDisposable
{
    private static readonly string FixtureCsv =
        Path.Combine(TestPaths.RepoRoot, "tests", "ModelCompiler.Core.Tests", "Policies", "Fixtures", "synthetic-sensitivity.csv");

    private readonly string _dir = TestPaths.NewTempDir("mc-train");

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void Json_reports_every_trainer_and_the_saved_file_loads()
    {
        var output = Path.Combine(_dir, "p.predictor");
        var r = Modelc.Run("train-predictor", FixtureCsv, "--output", output, "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        using var json = JsonDocument.Parse(r.StdOut);
        var root = json.RootElement;
        Assert.Equal(output, root.GetProperty("output").GetString());
        Assert.Equal(180, root.GetProperty("rows").GetInt32());
        Assert.Equal(6, root.GetProperty("models").GetArrayLength());
        var trainers = root.GetProperty("trainers").EnumerateArray().ToList();
        Assert.Equal(PredictorTrainer.Trainers, trainers.Select(t => t.GetProperty("trainer").GetString()));
        Assert.All(trainers, t => Assert.Equal(6, t.GetProperty("folds").GetInt32()));
        var best = trainers.OrderByDescending(t => t.GetProperty("auc").GetDouble()).First().GetProperty("trainer").GetString();
        Assert.Equal(best, root.GetProperty("saved").GetString());
        Assert.Contains("[cv]", r.StdErr);

        var loaded = PredictorFile.Load(output, "p.predictor");
        Assert.Equal(best, loaded.Trainer);
        Assert.Equal(180, loaded.Header.Rows);
    }

    [Fact]
    public void A_missing_csv_is_one_MC1060_line_and_exit_2()
    {
        var missing = Path.Combine(_dir, "none.csv");
        var r = Modelc.Run("train-predictor", FixtureCsv, missing, "--output", Path.Combine(_dir, "p.predictor"));
        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.Contains($"{missing}: error MC1060:", r.StdErr);
        Assert.Equal("", r.StdOut);
        Assert.False(File.Exists(Path.Combine(_dir, "p.predictor")));
    }
}

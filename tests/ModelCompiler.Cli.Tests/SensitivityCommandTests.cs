using System.Text.Json;
using ModelCompiler.Policies;
using ModelCompiler.Tests;

namespace ModelCompiler.Cli.Tests;

/// <summary><c>modelc sensitivity</c> and a closed-loop <c>compile --json</c>, run as a user runs them.</summary>
[Collection(ModelcCollection.Name)]
public sealed class SensitivityCommandTests(ModelcFixture f)
{
    private string Dir(string name)
    {
        var dir = Directory.CreateDirectory(f.File("sens-" + name)).FullName;
        var text = File.ReadAllText(TestPaths.TinyStoriesValid);
        File.WriteAllText(Path.Combine(dir, "calib.txt"), text[..(text.Length / 2)]);
        File.WriteAllText(Path.Combine(dir, "eval.txt"), text[(text.Length / 2)..]);
        return dir;
    }

    [Fact]
    public void Sensitivity_writes_one_row_per_layer_that_train_predictor_reads()
    {
        var dir = Dir("csv");
        File.WriteAllText(Path.Combine(dir, "spec.yaml"), "calibration: { text: calib.txt, max_tokens: 1024 }\n");
        var csv = Path.Combine(dir, "layers.csv");
        var r = Modelc.Run("sensitivity", "--model", f.ModelPath, "--spec", Path.Combine(dir, "spec.yaml"), "--output", csv, "--probe-tokens", "512", "--group", "stories", "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("[sensitivity] 36/36", r.StdErr);

        var rows = SensitivityTable.Read(csv);
        Assert.Equal(36, rows.Count);
        Assert.All(rows, row => Assert.Equal("stories", row.Model));
        Assert.Equal(LayerFeatures.Names.Count, rows[0].Features.Count);
        // The label is the documented rule over the KL column, nothing else.
        Assert.Equal(Compilation.SensitivitySweep.Labels(rows.Select(x => x.KlDivergence).ToList(), 2), rows.Select(x => x.Label).ToArray());
        using var json = JsonDocument.Parse(r.StdOut);
        Assert.Equal(36, json.RootElement.GetProperty("rows").GetArrayLength());
    }

    [Fact]
    public void Sensitivity_with_a_bad_probe_size_is_exit_2()
    {
        var dir = Dir("bad");
        File.WriteAllText(Path.Combine(dir, "spec.yaml"), "calibration: { text: calib.txt }\n");
        var csv = Path.Combine(dir, "layers.csv");
        var r = Modelc.Run("sensitivity", "--model", f.ModelPath, "--spec", Path.Combine(dir, "spec.yaml"), "--output", csv, "--probe-tokens", "1");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("MC1006", r.StdErr);
        Assert.False(File.Exists(csv));
    }

    [Fact]
    public void Closed_loop_compile_prints_json_with_summed_stage_timings()
    {
        var dir = Dir("loop");
        File.WriteAllText(Path.Combine(dir, "spec.yaml"), """
            calibration: { text: calib.txt, max_tokens: 2048 }
            evaluation: { text: eval.txt, max_tokens: 2048 }
            policy: { kind: all-int8 }
            gates: { max_perplexity_increase_pct: 0.3, on_fail: fallback }
            """);
        var r = Modelc.Run("compile", "--model", f.ModelPath, "--spec", Path.Combine(dir, "spec.yaml"), "--output", Path.Combine(dir, "out", "q.onnx"), "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        using var json = JsonDocument.Parse(r.StdOut);
        Assert.True(json.RootElement.GetProperty("passed").GetBoolean());
        Assert.True(json.RootElement.GetProperty("int8_layers").GetInt32() < 36);
        Assert.True(json.RootElement.GetProperty("timings_seconds").GetProperty("validate").GetDouble() > 0);
        Assert.Contains("[fallback] step 1:", r.StdErr);
    }
}

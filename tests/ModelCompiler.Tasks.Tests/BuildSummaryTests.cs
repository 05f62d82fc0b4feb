using ModelCompiler.Tasks;

namespace ModelCompiler.Tasks.Tests;

public sealed class BuildSummaryTests
{
    private static string Summary(string manifestJson)
    {
        var dir = Path.Combine(Path.GetTempPath(), "mc-summary-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var manifest = Path.Combine(dir, "story.manifest.json");
            File.WriteAllText(manifest, manifestJson);
            var report = Path.Combine(dir, "obj", "story.report.md");
            return BuildSummary.FromManifest(manifest, Path.Combine(dir, "models", "story.onnx"), report, dir)!;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void The_line_names_the_model_the_int8_layers_the_perplexity_change_its_gate_and_the_report()
    {
        var line = Summary("""
            { "metrics": { "provider": "cpu", "perplexity_increase_pct": 0.124739115, "layers": 36, "int8_layers": 30, "fp16_layers": 0 },
              "gates": [ { "name": "max_perplexity_increase_pct", "limit": 1, "measured": 0.1247, "passed": true } ],
              "providers": [ { "name": "cpu", "status": "ok" } ] }
            """);
        Assert.Equal($"ModelCompiler: story.onnx → INT8 30/36 layers, perplexity +0.12% (gate 1%), report {Path.Combine("obj", "story.report.md")}", line);
    }

    [Fact]
    public void A_missed_gate_a_negative_change_and_an_unavailable_provider_are_said()
    {
        var line = Summary("""
            { "metrics": { "provider": "cpu", "perplexity_increase_pct": -0.031, "layers": 10, "int8_layers": 4, "fp16_layers": 6 },
              "gates": [ { "name": "max_perplexity_increase_pct", "limit": 0.5, "passed": true },
                         { "name": "min_int8_fraction", "limit": 0.9, "passed": false } ],
              "providers": [ { "name": "cpu", "status": "ok" }, { "name": "cuda", "status": "unavailable", "reason": "libcudart.so.13" } ] }
            """);
        Assert.StartsWith("ModelCompiler: story.onnx → INT8 4/10 layers, FP16 6, perplexity -0.03% (gate 0.5%), missed min_int8_fraction, cuda unavailable, report ", line);
    }

    [Theory]
    [InlineData("-0.001", "+0.00%")]
    [InlineData("-0.004999", "+0.00%")]
    [InlineData("-0.005", "-0.01%")]
    [InlineData("0.0049", "+0.00%")]
    [InlineData("1.5", "+1.50%")]
    public void The_sign_follows_the_rounded_change(string increase, string expected)
    {
        var line = Summary($$"""
            { "metrics": { "provider": "cpu", "perplexity_increase_pct": {{increase}}, "layers": 2, "int8_layers": 2, "fp16_layers": 0 } }
            """);
        Assert.Contains($", perplexity {expected}, report ", line);
        Assert.DoesNotContain("-+", line);
    }
}

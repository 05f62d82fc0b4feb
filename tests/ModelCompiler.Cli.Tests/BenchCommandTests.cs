using System.Text.Json;
using System.Text.RegularExpressions;
using ModelCompiler.Tests;

namespace ModelCompiler.Cli.Tests;

[Collection(ModelcCollection.Name)]
public sealed class BenchCommandTests(ModelcFixture fixture) : IDisposable
{
    private static readonly Regex Diagnostic = new(@"^(?<where>.+?): error (?<code>MC\d{4}): (?<message>.+)$", RegexOptions.Multiline);
    private readonly string _dir = TestPaths.NewTempDir("mc-cli-bench");

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static double Median(double[] v)
    {
        var s = v.OrderBy(x => x).ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    [Fact]
    public void Json_ReportsMediansRatiosAndEachModelsOwnPeakMemory()
    {
        // A model ~40 MB of fp32 weights first, stories260K (~1 MB) second: if each model's peak were not its own,
        // the small model would inherit the large one's high-water mark.
        var large = Path.Combine(_dir, "large.onnx");
        var import = Modelc.Run("import", "synthetic-llama", "--dim", "256", "--hidden", "688", "--layers", "2", "--heads", "8",
            "--kv-heads", "8", "--vocab", "16384", "--seed", "3", "--output", large);
        Assert.True(import.ExitCode == 0, import.ToString());
        var largeBytes = new FileInfo(large).Length + Directory.GetFiles(_dir, "large.onnx*.data").Sum(f => new FileInfo(f).Length);

        var r = Modelc.Run("bench", large, "--compare", fixture.ModelPath, "--prefill", "32", "--decode", "4", "--repeats", "3",
            "--warmup", "0", "--threads", "1", "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("[bench] run 3/3", r.StdErr);

        var root = JsonDocument.Parse(r.StdOut).RootElement;
        var results = root.GetProperty("results").EnumerateArray().ToArray();
        Assert.Equal(2, results.Length);
        Assert.Equal(Path.GetFullPath(large), results[0].GetProperty("model").GetString());
        Assert.Equal(Path.GetFullPath(fixture.ModelPath), results[1].GetProperty("model").GetString());

        foreach (var result in results)
        {
            var prefill = result.GetProperty("prefill_seconds").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            var decode = result.GetProperty("decode_seconds").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            Assert.Equal(3, prefill.Length);
            Assert.Equal(3, decode.Length);
            Assert.All(prefill.Concat(decode), s => Assert.True(s > 0));
            // The reported speeds are tokens over the median run (rounding: the seconds are printed to 5 decimals).
            Assert.Equal(32 / Median(prefill), result.GetProperty("prefill_tokens_per_s").GetDouble(), 0.02 * 32 / Median(prefill));
            Assert.Equal(4 / Median(decode), result.GetProperty("decode_tokens_per_s").GetDouble(), 0.02 * 4 / Median(decode));
        }

        double Figure(int i, string name) => results[i].GetProperty(name).GetDouble();
        foreach (var name in new[] { "prefill_tokens_per_s", "decode_tokens_per_s", "peak_rss_bytes" })
        {
            Assert.Equal(1.0, results[0].GetProperty("ratios").GetProperty(name).GetDouble(), 1e-9);
            Assert.Equal(Figure(1, name) / Figure(0, name), results[1].GetProperty("ratios").GetProperty(name).GetDouble(), 1e-3);
        }

        var largePeak = results[0].GetProperty("peak_rss_bytes").GetInt64();
        var smallPeak = results[1].GetProperty("peak_rss_bytes").GetInt64();
        Assert.True(largePeak - smallPeak > largeBytes / 2,
            $"peak RSS: large {largePeak} B, small {smallPeak} B, large model's weights {largeBytes} B");
    }

    [Fact]
    public void Profile_ShowsTheInt8ModelRunningIntegerMatMulKernels()
    {
        var spec = Path.Combine(_dir, "q.yaml");
        File.WriteAllText(spec, "calibration:\n  generated: { tokens: 128, seed: 1 }\n  context: 64\nevaluation:\n  generated: { tokens: 128, seed: 2 }\n  context: 64\npolicy:\n  kind: all-int8\n");
        var int8 = Path.Combine(_dir, "q.onnx");
        var c = Modelc.Run("compile", "--model", fixture.ModelPath, "--spec", spec, "-o", int8);
        Assert.True(c.ExitCode == 0, c.ToString());

        var profiles = Path.Combine(_dir, "profiles");
        var r = Modelc.Run("bench", fixture.ModelPath, "--compare", int8, "--prefill", "16", "--decode", "2", "--repeats", "1", "--warmup", "0",
            "--profile", profiles, "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        var results = JsonDocument.Parse(r.StdOut).RootElement.GetProperty("results").EnumerateArray().ToArray();

        string[] Ops(JsonElement result)
        {
            var profile = result.GetProperty("profile");
            Assert.StartsWith(Path.GetFullPath(profiles), profile.GetProperty("file").GetString());
            Assert.True(File.Exists(profile.GetProperty("file").GetString()));
            var ops = profile.GetProperty("ops").EnumerateArray().ToArray();
            Assert.Equal(1.0, ops.Sum(o => o.GetProperty("share").GetDouble()), 0.01);
            Assert.All(ops, o => Assert.True(o.GetProperty("calls").GetInt32() > 0));
            return ops.Select(o => o.GetProperty("op").GetString()!).ToArray();
        }
        var fp32 = Ops(results[0]);
        var quantized = Ops(results[1]);
        Assert.Contains("MatMul", fp32);
        Assert.DoesNotContain(fp32, op => op.Contains("Integer", StringComparison.Ordinal));
        // Every projection is INT8: ORT must have fused the QDQ pairs into integer kernels, and no weight is dequantized at run time.
        Assert.Contains(quantized, op => op is "MatMulIntegerToFloat" or "MatMulInteger" or "QLinearMatMul" or "DynamicQuantizeMatMul");
        Assert.DoesNotContain("DequantizeLinear", quantized);
    }

    [Theory]
    [InlineData("MC1006", "--prefill", "0")]
    [InlineData("MC1006", "--decode", "-1")]
    [InlineData("MC1006", "--repeats", "0")]
    [InlineData("MC1006", "--threads", "0")]
    [InlineData("MC1006", "--provider", "tpu")]
    [InlineData("MC1006", "--prefill", "600")] // + 32 decode exceeds stories260K's 512 positions
    [InlineData("MC1001", "--compare", "missing.onnx")]
    public void BadSettings_ExitTwoWithOneCodedDiagnostic(string code, string option, string value)
    {
        var r = Modelc.RunIn(_dir, "bench", fixture.ModelPath, option, value, "--repeats", option == "--repeats" ? value : "1");
        Assert.True(r.ExitCode == 2, r.ToString());
        var match = Assert.Single(Diagnostic.Matches(r.StdErr));
        Assert.Equal(code, match.Groups["code"].Value);
        Assert.Equal("", r.StdOut);
    }
}

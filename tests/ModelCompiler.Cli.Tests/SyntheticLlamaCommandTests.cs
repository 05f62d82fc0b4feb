using System.Text.Json;
using System.Text.RegularExpressions;
using ModelCompiler.Tests;

namespace ModelCompiler.Cli.Tests;

public sealed class SyntheticLlamaCommandTests : IDisposable
{
    private static readonly Regex Diagnostic = new(@"^(?<where>.+?): error (?<code>MC\d{4}): (?<message>.+)$", RegexOptions.Multiline);
    private readonly string _dir = TestPaths.NewTempDir("mc-cli-synthetic");

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static readonly string[] Stories260K = ["--dim", "64", "--hidden", "172", "--layers", "5", "--heads", "8", "--kv-heads", "4", "--vocab", "512"];

    [Fact]
    public void GeneratedModel_WithTokenizer_IsEvaluable()
    {
        var model = Path.Combine(_dir, "s.onnx");
        var r = Modelc.Run(["import", "synthetic-llama", .. Stories260K, "--seed", "2", "--spike-layers", "0,3", "--tokenizer", TestPaths.Tokenizer, "--output", model]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("spikes=0;3", r.StdErr);
        Assert.True(File.Exists(Path.Combine(_dir, "s.tokenizer.bin")));

        var e = Modelc.Run("eval", model, "--text", TestPaths.TinyStoriesSample, "--max-tokens", "300", "--json");
        Assert.True(e.ExitCode == 0, e.ToString());
        var perplexity = JsonDocument.Parse(e.StdOut).RootElement.GetProperty("perplexity").GetDouble();
        Assert.True(double.IsFinite(perplexity) && perplexity > 1, $"perplexity {perplexity}");
    }

    [Theory]
    [InlineData("MC1011", "--heads", "7")]          // 64 is not divisible by 7
    [InlineData("MC1011", "--kv-heads", "3")]       // 8 is not divisible by 3
    [InlineData("MC1010", "--vocab", "0")]
    [InlineData("MC1012", "--spike-layers", "1,5")] // layers are 0..4
    [InlineData("MC1006", "--spike-layers", "one")]
    public void BadSettings_ExitTwoWithOneCodedDiagnostic(string code, string option, string value)
    {
        var args = Stories260K.ToList();
        var at = args.IndexOf(option);
        if (at >= 0) args[at + 1] = value;
        else args.AddRange([option, value]);
        var output = Path.Combine(_dir, "bad.onnx");
        var r = Modelc.Run(["import", "synthetic-llama", .. args, "--output", output]);
        Assert.True(r.ExitCode == 2, r.ToString());
        var errors = Diagnostic.Matches(r.StdErr);
        Assert.True(errors.Count == 1, r.ToString());
        Assert.Equal(code, errors[0].Groups["code"].Value);
        Assert.Equal("modelc", errors[0].Groups["where"].Value);
        Assert.DoesNotContain("   at ", r.StdErr);
        Assert.False(File.Exists(output));
    }
}

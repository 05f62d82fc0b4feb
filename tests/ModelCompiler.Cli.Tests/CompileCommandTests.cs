using System.Text.Json;
using System.Text.RegularExpressions;
using ModelCompiler.Tests;

namespace ModelCompiler.Cli.Tests;

/// <summary><c>modelc compile</c> as a build runs it: exit codes, diagnostics on stderr, outputs on disk.</summary>
[Collection(ModelcCollection.Name)]
public sealed class CompileCommandTests(ModelcFixture f)
{
    private static readonly Regex Diagnostic = new(@"^(?<file>.+?)\((?<line>\d+),(?<col>\d+)\): (?<severity>error|warning) (?<code>MC\d{4}): (?<message>.+)$", RegexOptions.Multiline);

    private string WriteSpec(string name, string gates)
    {
        var dir = Directory.CreateDirectory(f.File("compile-" + name)).FullName;
        var text = File.ReadAllText(TestPaths.TinyStoriesValid);
        File.WriteAllText(Path.Combine(dir, "calib.txt"), text[..(text.Length / 2)]);
        File.WriteAllText(Path.Combine(dir, "eval.txt"), text[(text.Length / 2)..]);
        var spec = Path.Combine(dir, "spec.yaml");
        File.WriteAllText(spec, $"""
            calibration: {"{"} text: calib.txt, max_tokens: 1024 {"}"}
            evaluation: {"{"} text: eval.txt, max_tokens: 1024 {"}"}
            policy:
              kind: all-int8
            gates:
              {gates}
            """);
        return spec;
    }

    private ModelcResult Compile(string spec, params string[] extra) =>
        Modelc.Run(["compile", "--model", f.ModelPath, "--spec", spec, "--output", Path.Combine(Path.GetDirectoryName(spec)!, "out", "q.onnx"), .. extra]);

    [Fact]
    public void PassingGates_Exit0_WithJsonSummaryAndAllOutputs()
    {
        var spec = WriteSpec("pass", "max_perplexity_increase_pct: 2.0");
        var r = Compile(spec, "--json", "--deps", Path.Combine(Path.GetDirectoryName(spec)!, "out", "q.deps"));
        Assert.True(r.ExitCode == 0, r.ToString());
        using var json = JsonDocument.Parse(r.StdOut);
        Assert.True(json.RootElement.GetProperty("passed").GetBoolean());
        Assert.Equal(36, json.RootElement.GetProperty("int8_layers").GetInt32());
        var outDir = Path.Combine(Path.GetDirectoryName(spec)!, "out");
        foreach (var name in new[] { "q.onnx", "q.manifest.json", "q.report.md", "q.tokenizer.bin", "q.deps" })
            Assert.True(File.Exists(Path.Combine(outDir, name)), name);
        var deps = File.ReadAllLines(Path.Combine(outDir, "q.deps"));
        Assert.Contains(spec, deps);
        Assert.Contains(f.ModelPath, deps);
        Assert.Contains(Path.Combine(Path.GetDirectoryName(spec)!, "calib.txt"), deps);
        Assert.Contains("report:", r.StdErr);
    }

    [Fact]
    public void MissedGate_Exit1_WithMc2001AtTheGatesLine()
    {
        var spec = WriteSpec("fail", "max_perplexity_increase_pct: 0.0001");
        var r = Compile(spec);
        Assert.True(r.ExitCode == 1, r.ToString());
        var d = Assert.Single(Diagnostic.Matches(r.StdErr));
        Assert.Equal(spec, d.Groups["file"].Value);
        Assert.Equal("MC2001", d.Groups["code"].Value);
        Assert.Equal("error", d.Groups["severity"].Value);
        Assert.Contains("max_perplexity_increase_pct", File.ReadAllLines(spec)[int.Parse(d.Groups["line"].Value) - 1]);
        Assert.True(File.Exists(Path.Combine(Path.GetDirectoryName(spec)!, "out", "q.manifest.json")));
    }

    [Fact]
    public void MissedGate_WithGatesAsWarnings_Exit0_AndAWarning()
    {
        var spec = WriteSpec("warn", "max_perplexity: 1.5");
        var r = Compile(spec, "--gates-as-warnings");
        Assert.True(r.ExitCode == 0, r.ToString());
        var d = Assert.Single(Diagnostic.Matches(r.StdErr));
        Assert.Equal("warning", d.Groups["severity"].Value);
        Assert.Equal("MC2002", d.Groups["code"].Value);
    }

    [Fact]
    public void SpecError_Exit2_AndNothingWritten()
    {
        var spec = WriteSpec("bad", "max_perplexity_increase_pct: 1.0\npolcy: {}");
        var r = Compile(spec);
        Assert.True(r.ExitCode == 2, r.ToString());
        var d = Assert.Single(Diagnostic.Matches(r.StdErr));
        Assert.Equal("MC1105", d.Groups["code"].Value);
        Assert.Contains("policy", d.Groups["message"].Value);
        Assert.False(Directory.Exists(Path.Combine(Path.GetDirectoryName(spec)!, "out")) &&
                     Directory.EnumerateFileSystemEntries(Path.Combine(Path.GetDirectoryName(spec)!, "out")).Any());
        Assert.DoesNotContain("   at ", r.StdErr);
    }
}

/// <summary>Pointing modelc at another ONNX Runtime native library (how a user enables CUDA validation).</summary>
[Collection(ModelcCollection.Name)]
public sealed class OrtNativeLibraryTests(ModelcFixture f)
{
    [Fact]
    public void AFileThatIsNotALibrary_IsMc3002_NamingIt()
    {
        var fake = f.File("not-a-library.so");
        File.WriteAllText(fake, "not a shared library");
        var r = Modelc.Run("eval", f.ModelPath, "--text", TestPaths.TinyStoriesSample, "--ort-native", fake);
        Assert.Equal(3, r.ExitCode);
        Assert.StartsWith(fake + ": error MC3002: ", r.StdErr.Trim());
    }

    [Fact]
    public void ACopyOfTheCpuLibrary_IsLoadedAndWorks_AndCudaIsStillReportedUnavailable()
    {
        var name = OperatingSystem.IsWindows() ? "onnxruntime.dll" : OperatingSystem.IsMacOS() ? "libonnxruntime.dylib" : "libonnxruntime.so";
        var original = Directory.EnumerateFiles(AppContext.BaseDirectory, name, SearchOption.AllDirectories).First();
        var copy = f.File("copy-" + name);
        File.Copy(original, copy, overwrite: true);

        var ok = Modelc.Run("eval", f.ModelPath, "--text", TestPaths.TinyStoriesSample, "--ort-native", copy, "--json");
        Assert.True(ok.ExitCode == 0, ok.ToString());
        Assert.Contains("\"tokens\":1801", ok.StdOut);

        var cuda = Modelc.Run("eval", f.ModelPath, "--text", TestPaths.TinyStoriesSample, "--ort-native", copy, "--provider", "cuda");
        Assert.Equal(3, cuda.ExitCode);
        Assert.Contains("MC3003", cuda.StdErr);
    }
}

using System.Text.RegularExpressions;
using ModelCompiler.Tests;

namespace ModelCompiler.Cli.Tests;

/// <summary>
/// Bad inputs: a non-zero exit code (2 for input problems MC1xxx, 3 for runtime MC3xxx), exactly one diagnostic
/// line <c>file: error MCxxxx: message</c> on stderr naming the file at fault, and no stack trace.
/// </summary>
[Collection(ModelcCollection.Name)]
public sealed class ErrorTests(ModelcFixture f)
{
    private static readonly Regex Diagnostic = new(@"^(?<where>.+?)(\(\d+,\d+\))?: error (?<code>MC\d{4}): (?<message>.+)$", RegexOptions.Multiline);

    /// <summary>Checks the common contract and returns the one diagnostic.</summary>
    private static Match AssertOneDiagnostic(ModelcResult r, string code, string? file, int exitCode)
    {
        Assert.True(r.ExitCode == exitCode, $"expected exit {exitCode}\n{r}");
        var errors = Diagnostic.Matches(r.StdErr);
        Assert.True(errors.Count == 1, $"expected one diagnostic line\n{r}");
        var m = errors[0];
        Assert.Equal(code, m.Groups["code"].Value);
        Assert.Equal(file ?? "modelc", m.Groups["where"].Value);
        Assert.DoesNotContain("   at ", r.StdErr);
        Assert.DoesNotContain("Exception", r.StdErr);
        Assert.False(string.IsNullOrWhiteSpace(m.Groups["message"].Value));
        return m;
    }

    private ModelcResult Eval(string model, string text, params string[] more) =>
        Modelc.Run(["eval", model, "--text", text, .. more]);

    [Fact]
    public void MissingModel()
    {
        var path = f.File("no-such-model.onnx");
        AssertOneDiagnostic(Eval(path, TestPaths.TinyStoriesSample), "MC1001", path, 2);
        AssertOneDiagnostic(Modelc.Run("generate", path), "MC1001", path, 2);
    }

    [Fact]
    public void MissingText()
    {
        var path = f.File("no-such-text.txt");
        AssertOneDiagnostic(Eval(f.ModelPath, path), "MC1030", path, 2);
    }

    [Fact]
    public void EmptyText()
    {
        var path = f.File("empty.txt");
        File.WriteAllBytes(path, []);
        AssertOneDiagnostic(Eval(f.ModelPath, path), "MC1032", path, 2);
    }

    [Fact]
    public void NonUtf8Text()
    {
        var path = f.File("utf16.txt");
        File.WriteAllBytes(path, [0xFF, 0xFE, 0x00, 0x4F, 0x00, 0x6E, 0x00, 0x63, 0x00, 0x65]);
        var m = AssertOneDiagnostic(Eval(f.ModelPath, path), "MC1031", path, 2);
        Assert.Contains("0xFF", m.Groups["message"].Value);
    }

    [Fact]
    public void ContextOfOne()
    {
        var m = AssertOneDiagnostic(Eval(f.ModelPath, TestPaths.TinyStoriesSample, "--context", "1"), "MC1006", null, 2);
        Assert.Contains("--context", m.Groups["message"].Value);
    }

    [Fact]
    public void CorruptCheckpointToImport()
    {
        var ckpt = f.File("corrupt.bin");
        File.WriteAllBytes(ckpt, File.ReadAllBytes(TestPaths.Checkpoint)[..1000]);
        var output = f.File("corrupt-out.onnx");
        AssertOneDiagnostic(Modelc.Run("import", "llama2c", ckpt, "--tokenizer", TestPaths.Tokenizer, "--output", output), "MC1005", ckpt, 2);
        Assert.False(File.Exists(output));
        Assert.False(File.Exists(f.File("corrupt-out.tokenizer.bin")));
    }

    [Fact]
    public void ImpossibleCheckpointHeader()
    {
        var ckpt = f.File("header.bin");
        using (var w = new BinaryWriter(File.Create(ckpt)))
            foreach (var v in new[] { 64, 172, 5, 7, 7, 512, 512 }) w.Write(v);
        AssertOneDiagnostic(Modelc.Run("import", "llama2c", ckpt, "--output", f.File("header.onnx")), "MC1005", ckpt, 2);
    }

    [Fact]
    public void MissingCheckpoint()
    {
        var ckpt = f.File("no-such-checkpoint.bin");
        AssertOneDiagnostic(Modelc.Run("import", "llama2c", ckpt, "--output", f.File("x.onnx")), "MC1001", ckpt, 2);
    }

    [Fact]
    public void TruncatedOnnxToEval()
    {
        var model = f.File("truncated.onnx");
        var bytes = File.ReadAllBytes(f.ModelPath);
        File.WriteAllBytes(model, bytes[..(bytes.Length / 2)]);
        File.Copy(f.File("stories260K.tokenizer.bin"), f.File("truncated.tokenizer.bin"), overwrite: true);
        var r = Eval(model, TestPaths.TinyStoriesSample);
        Assert.NotEqual(0, r.ExitCode);
        var errors = Diagnostic.Matches(r.StdErr);
        Assert.True(errors.Count == 1, r.ToString());
        Assert.Equal(model, errors[0].Groups["where"].Value);
        Assert.DoesNotContain("   at ", r.StdErr);
        Assert.Equal("MC1002", errors[0].Groups["code"].Value);
        Assert.Equal(2, r.ExitCode);
    }

    [Fact]
    public void CudaProviderUnavailable()
    {
        var m = AssertOneDiagnostic(Eval(f.ModelPath, TestPaths.TinyStoriesSample, "--provider", "cuda"), "MC3003", f.ModelPath, 3);
        Assert.Contains("cuda", m.Groups["message"].Value);
        Assert.Contains("MODELC_ORT_NATIVE", m.Groups["message"].Value);
    }

    [Fact]
    public void UnknownProvider()
    {
        AssertOneDiagnostic(Eval(f.ModelPath, TestPaths.TinyStoriesSample, "--provider", "tpu"), "MC1006", null, 2);
    }

    [Fact]
    public void UnknownOption()
    {
        var m = AssertOneDiagnostic(Eval(f.ModelPath, TestPaths.TinyStoriesSample, "--no-such-option"), "MC1006", null, 2);
        Assert.Contains("--no-such-option", m.Groups["message"].Value);
    }

    [Fact]
    public void MissingTokenizer()
    {
        var tok = f.File("no-such-tokenizer.bin");
        AssertOneDiagnostic(Eval(f.ModelPath, TestPaths.TinyStoriesSample, "--tokenizer", tok), "MC1020", tok, 2);
    }

    [Fact]
    public void BadSamplingSettings()
    {
        AssertOneDiagnostic(Modelc.Run("generate", f.ModelPath, "--temperature", "-1"), "MC1006", null, 2);
        AssertOneDiagnostic(Modelc.Run("generate", f.ModelPath, "--top-p", "0"), "MC1006", null, 2);
        AssertOneDiagnostic(Modelc.Run("generate", f.ModelPath, "--max-tokens", "-3"), "MC1006", null, 2);
    }

    [Fact]
    public void Verbose_AddsTheStackTrace()
    {
        // The contract above is meaningful: the same error with --verbose does print the exception.
        var path = f.File("no-such-text-verbose.txt");
        var r = Eval(f.ModelPath, path, "--verbose");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("error MC1030", r.StdErr);
        Assert.Contains("   at ", r.StdErr);
    }

    [Fact]
    public void ModelWithoutTokenizer_AndNoTokenizerOption()
    {
        var dir = Directory.CreateDirectory(f.File("bare")).FullName;
        var model = Path.Combine(dir, "bare.onnx");
        var import = Modelc.Run("import", "llama2c", TestPaths.Checkpoint, "--output", model);
        Assert.True(import.ExitCode == 0, import.ToString());
        var m = AssertOneDiagnostic(Eval(model, TestPaths.TinyStoriesSample), "MC1020", model, 2);
        Assert.Contains("--tokenizer", m.Groups["message"].Value);
    }

    [Fact]
    public void ContextLongerThanTheModelsMaximumSequence()
    {
        var r = Eval(f.ModelPath, TestPaths.TinyStoriesValid, "--context", "1024", "--max-tokens", "2000");
        Assert.Equal(2, r.ExitCode);
        var errors = Diagnostic.Matches(r.StdErr);
        Assert.True(errors.Count == 1 && errors[0].Groups["code"].Value.StartsWith("MC1", StringComparison.Ordinal), r.ToString());
        Assert.Contains("512", errors[0].Groups["message"].Value);
        Assert.DoesNotContain("onnxruntime", r.StdErr);
    }

    [Fact]
    public void GeneratingPastTheModelsMaximumSequence()
    {
        var r = Modelc.Run("generate", f.ModelPath, "--max-tokens", "600");
        Assert.DoesNotContain("MC3000", r.StdErr);
        Assert.DoesNotContain("onnxruntime", r.StdErr);
    }
}

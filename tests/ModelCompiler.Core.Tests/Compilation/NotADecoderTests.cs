using ModelCompiler.Core.Tests.Compilation;
using ModelCompiler.Compilation;

namespace ModelCompiler.Tests.Compilation;

public sealed class NotADecoderTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("mc-not-decoder");

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void Compile_OfTheDistilBertClassifier_IsMC1040_BeforeAnyOpsetAdvice()
    {
        // The classifier is opset 11 too: "not a decoder" must win over "re-export with opset 13".
        var spec = Path.Combine(_dir, "q.yaml");
        File.WriteAllText(spec, "calibration:\n  generated: { tokens: 64, seed: 1 }\npolicy:\n  kind: all-int8\n");
        var model = Path.Combine(TestPaths.Shared, "models", "thirdparty", "optimum-test-bert-classifier", "model.onnx");
        var e = Assert.Throws<ModelCompilerException>(() =>
            CompileStages.Load(new CompileOptions(model, spec, Path.Combine(_dir, "out", "q.onnx")), new CompileFixture.SilentReporter()).Dispose());
        Assert.Equal("MC1040", e.Code);
        Assert.Contains("rank 2", e.Message);
        Assert.False(Directory.Exists(Path.Combine(_dir, "out")));
    }
}

namespace ModelCompiler.Tasks.Tests;

public sealed class DiagnosticLineTests
{
    [Theory]
    [InlineData("/abs/spec.yaml(12,5): error MC2001: too high", "/abs/spec.yaml", 12, 5, true, "MC2001", "too high")]
    [InlineData("/abs/spec.yaml(12) : warning MC1150: same text", "/abs/spec.yaml", 12, 0, false, "MC1150", "same text")]
    [InlineData("/abs/my models/m.onnx: error MC1002: no input_ids: add one", "/abs/my models/m.onnx", 0, 0, true, "MC1002", "no input_ids: add one")]
    [InlineData("modelc: error MC3001: CUDA failed", "modelc", 0, 0, true, "MC3001", "CUDA failed")]
    [InlineData(@"C:\work\app\spec.yaml(3,7): error MC2002: perplexity 9.1 exceeds 8.0", @"C:\work\app\spec.yaml", 3, 7, true, "MC2002", "perplexity 9.1 exceeds 8.0")]
    public void Parses_canonical_lines(string text, string file, int line, int column, bool isError, string code, string message)
    {
        var d = DiagnosticLine.TryParse(text);

        Assert.NotNull(d);
        Assert.Equal((file, line, column, isError, code, message), (d.File, d.Line, d.Column, d.IsError, d.Code, d.Message));
    }

    [Fact]
    public void Keeps_subcategory_and_end_position()
    {
        var d = DiagnosticLine.TryParse("/a/spec.yaml(1,2,3,4): gates error MC2001: x");

        Assert.NotNull(d);
        Assert.Equal(("gates", 1, 2, 3, 4), (d.Subcategory, d.Line, d.Column, d.EndLine, d.EndColumn));
    }

    [Theory]
    [InlineData("")]
    [InlineData("[calibration] window 3/8, 768/2048 tokens, 5120 tokens/s")]
    [InlineData("modelc: wrote /x/y.onnx (12 nodes, 4 initializers)")]
    [InlineData("Unhandled exception. System.InvalidOperationException: boom")]
    [InlineData("error MC2001: no origin")]
    public void Other_lines_are_not_diagnostics(string text) => Assert.Null(DiagnosticLine.TryParse(text));

    [Theory]
    [InlineData("MC2001", true)]
    [InlineData("MC2999", true)]
    [InlineData("MC1201", false)]
    [InlineData("MC3001", false)]
    public void Gate_codes_are_MC2xxx(string code, bool isGate) =>
        Assert.Equal(isGate, DiagnosticLine.TryParse($"/s.yaml(1,1): error {code}: x")!.IsGate);
}

using System.Diagnostics;
using ModelCompiler.Tasks;

namespace ModelCompiler.Tasks.Tests;

public sealed class StageProgressTests
{
    [Theory]
    [InlineData("[calibrate] 36 layers, 8192 tokens", true)]
    [InlineData("[validate cpu] window 3/8, 768/2048 tokens, 5120 tokens/s", true)]
    [InlineData("modelc: report: /tmp/x.report.md", false)]
    [InlineData("models/a.quant.yaml(3,5): error MC2001: perplexity", false)]
    public void Stage_lines_are_modelcs_bracketed_stages(string line, bool stage) =>
        Assert.Equal(stage, StageProgress.IsStageLine(line));

    [Fact]
    public void Nothing_is_shown_in_the_first_seconds()
    {
        var progress = new StageProgress(TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(5), new Stopwatch()); // never started: 0 s
        Assert.False(progress.ShouldShow("[load] model.onnx"));
    }

    [Fact]
    public void After_the_quiet_time_one_line_per_interval_is_shown()
    {
        var progress = new StageProgress(TimeSpan.Zero, TimeSpan.FromHours(1), Stopwatch.StartNew());
        Assert.False(progress.ShouldShow("not a stage"));
        Assert.True(progress.ShouldShow("[calibrate] 36 layers"));
        Assert.False(progress.ShouldShow("[decide] policy almp"));
    }
}

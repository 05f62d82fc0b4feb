using Microsoft.ML.OnnxRuntime;
using ModelCompiler.Runtime;

namespace ModelCompiler.Core.Tests.Runtime;

/// <summary>MODELC_ORT_TUNING: the session settings docs/performance.md measures, parsed strictly.</summary>
public sealed class OrtTuningTests
{
    [Fact]
    public void Tuning_SetsArenaAndMemoryPattern_AndAcceptsSessionConfigKeys()
    {
        using var options = new SessionOptions();
        ExecutionProviders.ApplyTuning(options, "cpu_mem_arena=0; mem_pattern=0; session.disable_prepacking=1");
        Assert.False(options.EnableCpuMemArena);
        Assert.False(options.EnableMemoryPattern);
    }

    [Fact]
    public void Tuning_WithAnUnknownSetting_IsMc3090()
    {
        using var options = new SessionOptions();
        var e = Assert.Throws<ModelCompilerException>(() => ExecutionProviders.ApplyTuning(options, "arena=0"));
        Assert.Equal("MC3090", e.Code);
        Assert.Contains("'arena'", e.Message);
    }
}

using ModelCompiler.Runtime;

namespace ModelCompiler.Tests.Runtime;

public sealed class ExecutionProvidersTests
{
    [Fact]
    public void Cuda_OnTheCpuOnlyPackage_IsUnavailableWithAReason()
    {
        var options = ExecutionProviders.TryCreate(ExecutionProviders.Cuda, out var reason);
        Assert.Null(options);
        Assert.False(string.IsNullOrWhiteSpace(reason));
    }

    [Fact]
    public void Create_Cuda_IsMC3003NamingTheFile()
    {
        var e = Assert.Throws<ModelCompilerException>(() => ExecutionProviders.Create(ExecutionProviders.Cuda, "model.onnx"));
        Assert.Equal("MC3003", e.Code);
        Assert.Equal("model.onnx", e.File);
        Assert.Contains("cuda", e.Message);
    }

    [Fact]
    public void Cpu_IsAlwaysAvailable()
    {
        using var options = ExecutionProviders.TryCreate(ExecutionProviders.Cpu, out var reason);
        Assert.NotNull(options);
        Assert.Null(reason);
    }

    [Fact]
    public void UnknownProvider_Throws()
    {
        Assert.Throws<ArgumentException>(() => ExecutionProviders.TryCreate("tpu", out _));
    }

    [Fact]
    public void OrtVersion_IsTheReferencedPackage()
    {
        Assert.StartsWith("1.", ExecutionProviders.OrtVersion);
    }

    [Fact]
    public void UseNativeLibrary_WithAMissingFile_IsMC3002()
    {
        var path = Path.Combine(Path.GetTempPath(), "mc-no-such-dir-" + Guid.NewGuid().ToString("N"), "libonnxruntime.so");
        var e = Assert.Throws<ModelCompilerException>(() => ExecutionProviders.UseNativeLibrary(path));
        Assert.Equal("MC3002", e.Code);
        Assert.Equal(path, e.File);
        Assert.Null(ExecutionProviders.NativeLibraryOverride);
    }

    [Fact]
    public void A_native_library_of_another_minor_version_is_refused_naming_both_versions()
    {
        var message = ExecutionProviders.VersionMismatch("1.30.0", "1.31.1");
        Assert.NotNull(message);
        Assert.Contains("1.30.0", message);
        Assert.Contains("1.31.1", message);
    }

    [Theory]
    [InlineData("1.31.0", "1.31.1")] // Microsoft.ML.OnnxRuntime.Gpu 1.31.0 beside the managed 1.31.1: the same C API
    [InlineData("1.31.1", "1.31.1")]
    public void A_native_library_of_the_same_minor_version_is_accepted(string native, string managed) =>
        Assert.Null(ExecutionProviders.VersionMismatch(native, managed));

    [Fact]
    public void Without_a_native_override_no_CUDA_libraries_are_probed() =>
        Assert.Null(ExecutionProviders.MissingCudaDependencies(_ => throw new InvalidOperationException("probed")));
}

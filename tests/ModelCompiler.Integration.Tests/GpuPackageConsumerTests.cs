using System.Text.Json;

namespace ModelCompiler.Integration.Tests;

/// <summary>
/// A consumer that references ModelCompiler and the real Microsoft.ML.OnnxRuntime.Gpu.Linux 1.31.0 package, with no
/// ModelCompiler property: the targets find the package's native library and modelc validates on CUDA with it. This
/// machine has no CUDA, so the manifest must say cuda is unavailable and name a missing CUDA library.
/// </summary>
[Collection(PackagedConsumerCollection.Name)]
[Trait("Category", "Integration")]
public sealed class GpuPackageConsumerTests(PackagedConsumer consumer)
{
    private const string Stem = "stories260K";

    [Fact]
    public void A_consumer_of_the_Gpu_Linux_package_validates_on_cuda_with_its_native_library_and_says_what_is_missing()
    {
        if (!OperatingSystem.IsLinux() || System.Runtime.InteropServices.RuntimeInformation.OSArchitecture != System.Runtime.InteropServices.Architecture.X64)
        {
            return; // Gpu.Linux ships linux-x64 only
        }

        var source = consumer.EnsureCreated();
        var dir = Path.Combine(consumer.Root, "gpu consumer");
        Directory.CreateDirectory(Path.Combine(dir, "models"));
        Directory.CreateDirectory(Path.Combine(dir, "data"));
        foreach (var file in Directory.GetFiles(Path.Combine(source, "models"), Stem + ".*").Where(f => !f.EndsWith(".yaml", StringComparison.Ordinal)))
        {
            File.Copy(file, Path.Combine(dir, "models", Path.GetFileName(file)));
        }

        foreach (var file in Directory.GetFiles(Path.Combine(source, "data"), Stem + ".*"))
        {
            File.Copy(file, Path.Combine(dir, "data", Path.GetFileName(file)));
        }

        File.WriteAllText(Path.Combine(dir, "models", Stem + ".quant.yaml"), $"""
            target: cpu
            calibration:
              text: ../data/{Stem}.calibration.txt
              context: 256
              max_tokens: 1024
            evaluation:
              text: ../data/{Stem}.evaluation.txt
              context: 256
              max_tokens: 1024
            policy:
              kind: all-int8
            validation:
              providers: [cpu, cuda]
              require: [cpu]
            gates:
              max_perplexity_increase_pct: 5.0

            """);
        File.WriteAllText(Path.Combine(dir, "NuGet.config"), consumer.NuGetConfig());
        File.WriteAllText(Path.Combine(dir, "GpuConsumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <TargetFramework>net10.0</TargetFramework>
                <RootNamespace>Gpu</RootNamespace>
                <RestorePackagesPath>{consumer.Packages}</RestorePackagesPath>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="ModelCompiler" Version="{consumer.Version}" />
                <PackageReference Include="ModelCompiler.Runtime" Version="{consumer.Version}" />
                <PackageReference Include="Microsoft.ML.OnnxRuntime.Gpu.Linux" Version="1.31.0" />
                <PackageReference Include="System.Numerics.Tensors" Version="9.0.19" />
                <QuantizedModel Include="models/{Stem}.onnx" Spec="models/{Stem}.quant.yaml" ClassName="GpuStory" />
              </ItemGroup>
            </Project>
            """);

        var build = DotNetCli.Run(dir, ["build", "-tl:off", "-nodeReuse:false", "-v:n"], TimeSpan.FromMinutes(5));

        Assert.True(build.Succeeded, build.ToString());
        var native = Path.Combine(consumer.Packages, "microsoft.ml.onnxruntime.gpu.linux", "1.31.0", "runtimes", "linux-x64", "native", "libonnxruntime.so");
        Assert.Contains(native, build.Output); // on modelc's logged command line

        var manifestPath = Path.Combine(dir, "obj", "Debug", "net10.0", "modelcompiler", Stem, Stem + ".manifest.json");
        using var manifest = JsonDocument.Parse(File.ReadAllText(manifestPath));
        var providers = manifest.RootElement.GetProperty("providers").EnumerateArray()
            .ToDictionary(p => p.GetProperty("name").GetString()!, p => (Status: p.GetProperty("status").GetString(), Reason: p.GetProperty("reason").ToString()));
        Assert.Equal("ok", providers["cpu"].Status);
        Assert.Equal("unavailable", providers["cuda"].Status);
        // Probed before the provider is appended: ORT alone would say only "Failed to load shared library".
        Assert.Contains("libcudart.so.13", providers["cuda"].Reason);
        Assert.Contains("libcudnn.so.9", providers["cuda"].Reason);
        Assert.Contains(", cuda unavailable, report ", build.Output);
    }
}

using System.IO.Compression;
using System.Xml.Linq;

namespace ModelCompiler.Integration.Tests;

/// <summary>What `dotnet pack src/ModelCompiler.Package` puts in the package a consumer references.</summary>
[Collection(PackagedConsumerCollection.Name)]
[Trait("Category", "Integration")]
public sealed class PackageContentsTests(PackagedConsumer package)
{
    private List<string> Entries()
    {
        using var zip = ZipFile.OpenRead(package.Nupkg);
        return zip.Entries.Select(e => e.FullName).ToList();
    }

    [Theory]
    [InlineData("build/ModelCompiler.props")]
    [InlineData("build/ModelCompiler.targets")]
    [InlineData("buildTransitive/ModelCompiler.props")]
    [InlineData("buildTransitive/ModelCompiler.targets")]
    [InlineData("tasks/netstandard2.0/ModelCompiler.Tasks.dll")]
    [InlineData("analyzers/dotnet/cs/ModelCompiler.Generator.dll")]
    [InlineData("tools/modelc/modelc.dll")]
    [InlineData("tools/modelc/modelc.deps.json")]
    [InlineData("tools/modelc/modelc.runtimeconfig.json")]
    [InlineData("tools/modelc/ModelCompiler.Core.dll")]
    [InlineData("tools/modelc/ModelCompiler.Onnx.dll")]
    [InlineData("tools/modelc/Microsoft.ML.OnnxRuntime.dll")]
    [InlineData("tools/modelc/runtimes/linux-x64/native/libonnxruntime.so")]
    [InlineData("tools/modelc/runtimes/win-x64/native/onnxruntime.dll")]
    [InlineData("tools/modelc/runtimes/osx-arm64/native/libonnxruntime.dylib")]
    public void Package_holds(string entry) => Assert.Contains(entry, Entries());

    [Fact]
    public void Package_gives_consumers_no_assemblies_and_nothing_for_other_platforms()
    {
        var entries = Entries();

        Assert.DoesNotContain(entries, e => e.StartsWith("lib/", StringComparison.Ordinal) || e.StartsWith("ref/", StringComparison.Ordinal));
        // modelc runs as `dotnet modelc.dll` on every platform: no native app host, no import libraries, no mobile runtimes.
        Assert.DoesNotContain("tools/modelc/modelc", entries);
        Assert.DoesNotContain("tools/modelc/modelc.exe", entries);
        Assert.DoesNotContain(entries, e => e.EndsWith(".lib", StringComparison.Ordinal));
        Assert.DoesNotContain(entries, e => e.StartsWith("tools/modelc/runtimes/android", StringComparison.Ordinal) || e.StartsWith("tools/modelc/runtimes/ios", StringComparison.Ordinal));
    }

    [Fact]
    public void Package_is_a_development_dependency_without_dependencies()
    {
        using var zip = ZipFile.OpenRead(package.Nupkg);
        using var stream = zip.GetEntry("ModelCompiler.nuspec")!.Open();
        var nuspec = XDocument.Load(stream);
        var ns = nuspec.Root!.GetDefaultNamespace();
        var metadata = nuspec.Root.Element(ns + "metadata")!;

        Assert.Equal("ModelCompiler", metadata.Element(ns + "id")!.Value);
        Assert.Equal(package.Version, metadata.Element(ns + "version")!.Value);
        Assert.Equal("true", metadata.Element(ns + "developmentDependency")?.Value);
        Assert.Empty(metadata.Descendants(ns + "dependency"));
    }
}

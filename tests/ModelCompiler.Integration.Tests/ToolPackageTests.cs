using System.Reflection;
using System.Text.RegularExpressions;
using ModelCompiler.Tests;

namespace ModelCompiler.Integration.Tests;

/// <summary>
/// The public packages: `dotnet pack` at the root packs only ModelCompiler, ModelCompiler.Cli and ModelCompiler.Runtime (the generated wrappers' library), and the
/// ModelCompiler.Cli package installs as a dotnet tool whose `modelc` runs. In the packaged-consumer collection so
/// that no two builds of the same projects run at once.
/// </summary>
[Collection(PackagedConsumerCollection.Name)]
[Trait("Category", "Integration")]
public sealed class ToolPackageTests(PackagedConsumer package)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(5);

    [Fact]
    public void Only_the_build_package_the_tool_and_the_runtime_library_are_packable()
    {
        // The same evaluation `dotnet pack ModelCompiler.sln` makes: it skips every project whose IsPackable is false.
        var list = DotNetCli.Run(TestPaths.RepoRoot,
            ["msbuild", Path.Combine(TestPaths.RepoRoot, "ModelCompiler.sln"), "-t:ModelCompiler_ListPackable", "-tl:off", "-nodeReuse:false", "-v:m"], Timeout);
        Assert.True(list.Succeeded, list.ToString());

        var projects = Regex.Matches(list.Output, @"packable: (\S+) (\S+) (\S+)")
            .Select(m => (Project: m.Groups[1].Value, Packable: m.Groups[2].Value == "true", Id: m.Groups[3].Value))
            .Distinct()
            .ToList();
        Assert.True(projects.Count >= 10, list.ToString()); // every project of the solution answered
        Assert.Equal(["ModelCompiler", "ModelCompiler.Cli", "ModelCompiler.Runtime"], projects.Where(p => p.Packable).Select(p => p.Id).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void The_Cli_package_installs_as_the_modelc_tool()
    {
        var configuration = typeof(PackagedConsumer).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .First(a => a.Key == "Configuration").Value!;
        var feed = Path.Combine(package.Root, "tool-feed");
        var cli = Path.Combine(TestPaths.RepoRoot, "src", "ModelCompiler.Cli", "ModelCompiler.Cli.csproj");
        var pack = DotNetCli.Run(TestPaths.RepoRoot, ["pack", cli, "-c", configuration, "-o", feed, "-tl:off", "-nodeReuse:false"], Timeout);
        Assert.True(pack.Succeeded, pack.ToString());
        var nupkg = Assert.Single(Directory.GetFiles(feed, "*.nupkg"));
        Assert.StartsWith("ModelCompiler.Cli.", Path.GetFileName(nupkg));
        // Both packages carry the same version from git.
        Assert.Equal(package.Version, Path.GetFileNameWithoutExtension(nupkg)["ModelCompiler.Cli.".Length..]);

        var tools = Path.Combine(package.Root, "tools");
        // Exactly the command a user runs (issue 9): no --version, no --prerelease; the feed's stable version is found.
        var install = DotNetCli.Run(package.Root,
            ["tool", "install", "--tool-path", tools, "--add-source", feed, "ModelCompiler.Cli"], Timeout);
        Assert.True(install.Succeeded, install.ToString());

        var modelc = Path.Combine(tools, OperatingSystem.IsWindows() ? "modelc.exe" : "modelc");
        var help = RunTool(modelc, "--help");
        Assert.Equal(0, help.ExitCode);
        Assert.Contains("compile", help.Output);
        var version = RunTool(modelc, "--version");
        Assert.Equal(0, version.ExitCode);
        Assert.StartsWith(package.Version + "+", version.Output.Trim());
    }

    private static (int ExitCode, string Output) RunTool(string tool, string argument)
    {
        using var process = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(tool, argument)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output.Result + error);
    }
}

using System.Diagnostics;
using System.Text.RegularExpressions;

namespace ModelCompiler.Cli.Tests;

/// <summary>
/// SIGKILL <c>modelc compile</c> when each stage starts (as its stderr announces it) and at several moments of the
/// write stage: the outputs are then the previous complete set (the manifest's sha256 matches the model) or have no
/// manifest (not built), and the next run leaves no staging behind.
/// </summary>
[Collection(ModelcCollection.Name)]
public sealed class KillTests(ModelcFixture f)
{
    private static readonly Regex StageLine = new(@"^\[(?<stage>[a-z][a-z0-9 ]*)\]", RegexOptions.Multiline);

    [Fact]
    public void KillAtEveryStage_LeavesThePreviousSetOrNone_AndTheNextRunCleansUp()
    {
        var dir = FileSystemCatalogueTests.NewCase(f, "kill");
        var output = Path.Combine(dir, "out", "q.onnx");
        var manifest = Path.Combine(dir, "out", "q.manifest.json");
        var args = FileSystemCatalogueTests.CompileArgs(dir, "--output", output);
        var first = Modelc.Run(args);
        Assert.True(first.ExitCode == 0, first.ToString());
        var stages = StageLine.Matches(first.StdErr).Select(m => m.Groups["stage"].Value).Distinct().ToList();
        Assert.Contains("write", stages);

        var kills = stages.Select(s => (s, 0)).Concat([("write", 3), ("write", 15)]).ToList();
        var survived = 0;
        foreach (var (stage, delayMs) in kills)
        {
            KillAt(args, stage, delayMs);
            var sha = FileSystemCatalogueTests.ManifestSha(manifest);
            Assert.True(sha is null || sha == FileSystemCatalogueTests.Sha256(output), $"kill at [{stage}] +{delayMs} ms: the manifest does not describe the model beside it");
            survived++;
        }
        Assert.Equal(kills.Count, survived);

        var last = Modelc.Run(args);
        Assert.True(last.ExitCode == 0, last.ToString());
        Assert.Equal(FileSystemCatalogueTests.Sha256(output), FileSystemCatalogueTests.ManifestSha(manifest));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(dir, "out"), ".modelc-*"));
    }

    /// <summary>Starts modelc and SIGKILLs it <paramref name="delayMs"/> after it prints the line of <paramref name="stage"/>.</summary>
    private static void KillAt(string[] args, string stage, int delayMs)
    {
        var host = Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";
        var psi = new ProcessStartInfo(host) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add(Modelc.DllPath);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        string? line;
        while ((line = process.StandardError.ReadLine()) is not null)
        {
            if (!line.StartsWith("[" + stage + "]", StringComparison.Ordinal)) continue;
            if (delayMs > 0) Thread.Sleep(delayMs);
            try { process.Kill(); } catch (InvalidOperationException) { } // SIGKILL on Unix
            break;
        }
        process.WaitForExit();
        _ = stdout.Result;
    }
}

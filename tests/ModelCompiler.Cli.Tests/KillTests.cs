using System.Diagnostics;
using System.Text.RegularExpressions;

namespace ModelCompiler.Cli.Tests;

/// <summary>
/// SIGKILL <c>modelc compile</c> when each stage starts (as its stderr announces it) and at several moments of the
/// write stage: the outputs are then the previous complete set (the manifest's sha256 matches the model) or have no
/// manifest (not built), and the next run leaves no staging behind. The same for <c>modelc import</c> at moments spread
/// over its run.
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

    [Fact]
    public void KillDuringImport_LeavesACompleteModelOrNone_AndTheNextImportCleansUp()
    {
        // Import is deterministic, so the previous set and a new one are the same bytes: after any kill the model is
        // either absent (not imported) or exactly that, with its data file and tokenizer beside it.
        var dir = Directory.CreateDirectory(f.File("kill-import")).FullName;
        var output = Path.Combine(dir, "m.onnx");
        string[] args = ["import", "llama2c", ModelCompiler.Tests.TestPaths.Checkpoint, "--tokenizer", ModelCompiler.Tests.TestPaths.Tokenizer, "--output", output, "--external-data"];
        var first = Modelc.Run(args);
        Assert.True(first.ExitCode == 0, first.ToString());
        var expected = new[] { "m.onnx", "m.onnx.data", "m.tokenizer.bin" }.ToDictionary(n => n, n => FileSystemCatalogueTests.Sha256(Path.Combine(dir, n)));

        var fractions = new[] { 0.2, 0.4, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95 };
        foreach (var fraction in fractions)
        {
            KillAfter(args, TimeSpan.FromMilliseconds(first.Elapsed.TotalMilliseconds * fraction));
            if (!File.Exists(output)) continue;
            foreach (var (name, sha) in expected)
                Assert.True(File.Exists(Path.Combine(dir, name)) && FileSystemCatalogueTests.Sha256(Path.Combine(dir, name)) == sha,
                    $"kill at {fraction:P0}: the model is there but {name} is not the one it was committed with");
        }

        var last = Modelc.Run(args);
        Assert.True(last.ExitCode == 0, last.ToString());
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        foreach (var (name, sha) in expected) Assert.Equal(sha, FileSystemCatalogueTests.Sha256(Path.Combine(dir, name)));
    }

    /// <summary>Starts modelc with both streams redirected.</summary>
    private static Process Start(string[] args)
    {
        var host = Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";
        var psi = new ProcessStartInfo(host) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add(Modelc.DllPath);
        foreach (var a in args) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    /// <summary>Starts modelc and SIGKILLs it after <paramref name="delay"/> (or lets it finish first).</summary>
    private static void KillAfter(string[] args, TimeSpan delay)
    {
        using var process = Start(args);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(delay))
            try { process.Kill(); } catch (InvalidOperationException) { } // SIGKILL on Unix
        process.WaitForExit();
        _ = stdout.Result;
        _ = stderr.Result;
    }

    /// <summary>Starts modelc and SIGKILLs it <paramref name="delayMs"/> after it prints the line of <paramref name="stage"/>.</summary>
    private static void KillAt(string[] args, string stage, int delayMs)
    {
        using var process = Start(args);
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

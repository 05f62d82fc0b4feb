using System.Diagnostics;
using System.Text;

namespace ModelCompiler.Cli.Tests;

/// <summary>The result of one modelc process.</summary>
public sealed record ModelcResult(int ExitCode, string StdOut, string StdErr, TimeSpan Elapsed)
{
    public override string ToString() => $"exit {ExitCode} after {Elapsed.TotalSeconds:F1} s\n--- stdout ---\n{StdOut}\n--- stderr ---\n{StdErr}";
}

/// <summary>
/// Runs modelc out of process, as MSBuild and users do: <c>dotnet modelc.dll ...</c>. The Cli project reference copies
/// modelc.dll with its deps.json and runtimeconfig.json (and the ORT native library) next to the test assembly.
/// </summary>
public static class Modelc
{
    private static readonly TimeSpan HangLimit = TimeSpan.FromMinutes(5);

    public static string DllPath { get; } = Path.Combine(AppContext.BaseDirectory, "modelc.dll");

    private static string DotnetHost
    {
        get
        {
            // The test host runs under the same dotnet muxer we want; fall back to PATH.
            var current = Environment.ProcessPath;
            return current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet" ? current : "dotnet";
        }
    }

    public static ModelcResult Run(params string[] args) => RunIn(null, args);

    public static ModelcResult RunIn(string? workingDirectory, params string[] args)
    {
        var psi = new ProcessStartInfo(DotnetHost)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = new UTF8Encoding(false),
            StandardErrorEncoding = new UTF8Encoding(false),
            WorkingDirectory = workingDirectory ?? AppContext.BaseDirectory,
        };
        psi.ArgumentList.Add(DllPath);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment.Remove("MODELC_ORT_NATIVE");
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";

        var clock = Stopwatch.StartNew();
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start dotnet");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        // A hang guard, not a speed check: the slowest command (a closed-loop compile) takes ~50 s on a quiet
        // 2-core machine, so 60 s failed under load.
        if (!process.WaitForExit(HangLimit))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"modelc {string.Join(' ', args)} ran over {HangLimit.TotalSeconds} s");
        }
        process.WaitForExit();
        return new ModelcResult(process.ExitCode, stdout.Result, stderr.Result, clock.Elapsed);
    }
}

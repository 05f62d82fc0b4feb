using System.Diagnostics;
using System.Text;

namespace ModelCompiler.Integration.Tests;

/// <summary>What a dotnet command printed and how it ended.</summary>
public sealed record CommandResult(string Command, int ExitCode, string Output, TimeSpan Elapsed)
{
    public bool Succeeded => ExitCode == 0;

    /// <summary>For assertion messages: the command and the end of its output.</summary>
    public override string ToString()
    {
        const int tail = 6000;
        var text = Output.Length > tail ? "…" + Output[^tail..] : Output;
        return $"$ {Command}\n(exit {ExitCode} after {Elapsed.TotalSeconds:F0} s)\n{text}";
    }
}

/// <summary>
/// Runs the dotnet CLI as a developer would, isolated from the test host: no MSBuild variables inherited from
/// `dotnet test`, no node reuse and no compiler server (nothing is left running to hold the output pipes open).
/// </summary>
internal static class DotNetCli
{
    public static string Host { get; } = FindHost();

    public static CommandResult Run(string workingDirectory, IReadOnlyList<string> arguments, TimeSpan timeout, IDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(Host)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var name in start.Environment.Keys.ToList())
        {
            if (name.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase) || name is "DOTNET_HOST_PATH" or "VSTEST_HOST_DEBUG")
            {
                start.Environment.Remove(name);
            }
        }

        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["UseSharedCompilation"] = "false";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        start.Environment["DOTNET_CLI_UI_LANGUAGE"] = "en";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        var output = new StringBuilder();
        var watch = Stopwatch.StartNew();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            Append($"*** killed after {timeout.TotalSeconds:F0} s ***");
            return new CommandResult(Describe(arguments), -1, Snapshot(), watch.Elapsed);
        }

        process.WaitForExit(); // drains the output events
        return new CommandResult(Describe(arguments), process.ExitCode, Snapshot(), watch.Elapsed);

        void Append(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (output)
            {
                output.AppendLine(line);
            }
        }

        string Snapshot()
        {
            lock (output)
            {
                return output.ToString();
            }
        }
    }

    private static string Describe(IReadOnlyList<string> arguments) =>
        "dotnet " + string.Join(" ", arguments.Select(a => a.Contains(' ') ? "\"" + a + "\"" : a));

    private static string FindHost()
    {
        // The test host runs on the dotnet that ran `dotnet test`.
        var self = Environment.ProcessPath;
        if (self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            return self;
        }

        var fromCli = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        return !string.IsNullOrEmpty(fromCli) && File.Exists(fromCli) ? fromCli : "dotnet";
    }
}

using Microsoft.Build.Framework;

namespace ModelCompiler.Tasks.Tests;

/// <summary>
/// The compile task with modelc replaced by a script: it records what it was asked to run and replays the stderr
/// lines and exit code a test gives it, through the same path real output takes.
/// </summary>
internal sealed class CapturingCompileTask : ModelCompilerCompile
{
    public IReadOnlyList<string> StderrLines { get; set; } = [];
    public int ExitCodeToReturn { get; set; }

    /// <summary>Runs before the exit code is returned, e.g. to write the report as modelc would.</summary>
    public Action? OnRun { get; set; }

    public int Runs { get; private set; }
    public string? ExecutedTool { get; private set; }
    public string? ResponseFile { get; private set; }
    public string? CommandLine { get; private set; }

    protected override int ExecuteTool(string pathToTool, string responseFileCommands, string commandLineCommands)
    {
        Runs++;
        ExecutedTool = pathToTool;
        ResponseFile = responseFileCommands;
        CommandLine = commandLineCommands;
        foreach (var line in StderrLines)
        {
            LogEventsFromTextOutput(line, MessageImportance.Normal);
        }

        OnRun?.Invoke();
        return ExitCodeToReturn;
    }
}

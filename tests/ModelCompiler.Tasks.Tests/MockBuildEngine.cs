using System.Collections;
using Microsoft.Build.Framework;

namespace ModelCompiler.Tasks.Tests;

/// <summary>A build engine that records what a task logs, instead of a real build.</summary>
internal sealed class MockBuildEngine : IBuildEngine
{
    public List<BuildErrorEventArgs> Errors { get; } = [];
    public List<BuildWarningEventArgs> Warnings { get; } = [];
    public List<BuildMessageEventArgs> Messages { get; } = [];

    /// <summary>The command lines the task logged (ToolTask logs them as a message of their own kind).</summary>
    public IEnumerable<string> CommandLines => Messages.OfType<TaskCommandLineEventArgs>().Select(m => m.CommandLine);

    public bool ContinueOnError => false;
    public int LineNumberOfTaskNode => 0;
    public int ColumnNumberOfTaskNode => 0;
    public string ProjectFileOfTaskNode => "/project/ModelCompiler.targets";

    public void LogErrorEvent(BuildErrorEventArgs e) => Errors.Add(e);
    public void LogWarningEvent(BuildWarningEventArgs e) => Warnings.Add(e);
    public void LogMessageEvent(BuildMessageEventArgs e) => Messages.Add(e);
    public void LogCustomEvent(CustomBuildEventArgs e) { }

    public bool BuildProjectFile(string projectFileName, string[] targetNames, IDictionary globalProperties, IDictionary targetOutputs) =>
        throw new NotSupportedException();

    public string Describe() => string.Join("\n",
        Errors.Select(e => $"error {e.Code} {e.File}({e.LineNumber},{e.ColumnNumber}): {e.Message}")
            .Concat(Warnings.Select(w => $"warning {w.Code} {w.File}({w.LineNumber},{w.ColumnNumber}): {w.Message}"))
            .Concat(Messages.Select(m => $"message [{m.Importance}] {m.Message}")));
}

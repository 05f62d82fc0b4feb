namespace ModelCompiler.Compilation;

/// <summary>What <c>modelc compile</c> was asked to do. Manifest/report default to names beside the output.</summary>
public sealed record CompileOptions(string ModelPath, string SpecPath, string OutputPath)
{
    public string? ManifestPath { get; init; }
    public string? ReportPath { get; init; }
    /// <summary>Optional dependency file: every input file read, one absolute path per line (for incremental builds).</summary>
    public string? DepsPath { get; init; }

    public string ResolvedManifestPath => Path.GetFullPath(ManifestPath ?? StemPath(OutputPath) + ".manifest.json");
    public string ResolvedReportPath => Path.GetFullPath(ReportPath ?? StemPath(OutputPath) + ".report.md");

    private static string StemPath(string path) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, Path.GetFileNameWithoutExtension(path));
}

/// <summary>Where the pipeline tells the user what it is doing (the CLI prints to stderr).</summary>
public interface ICompileReporter
{
    void Stage(string stage, string detail);
    IProgress<Evaluation.EvaluationProgress>? Progress(string stage);
    void Warning(string diagnosticLine);
}

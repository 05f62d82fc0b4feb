using ModelCompiler.Tests;

namespace ModelCompiler.Tasks.Tests;

/// <summary>A folder with the files the compile task checks for: a model, a spec, modelc.dll and a stand-in dotnet host.</summary>
internal sealed class CompileTaskFiles : IDisposable
{
    public CompileTaskFiles(string folderName = "project dir")
    {
        Root = TestPaths.NewTempDir("mc-tasks");
        Project = Path.Combine(Root, folderName);
        Directory.CreateDirectory(Path.Combine(Project, "models"));
        Model = Touch(Path.Combine(Project, "models", "stories260K.onnx"));
        Spec = Touch(Path.Combine(Project, "models", "stories260K.quant.yaml"));
        Cli = Touch(Path.Combine(Root, "tools", "modelc", "modelc.dll"));
        DotNet = Touch(Path.Combine(Root, "host", "dotnet"));
        OutputDir = Path.Combine(Project, "obj", "modelcompiler", "stories260K");
        ProjectFile = Path.Combine(Project, "App.csproj");
    }

    public string Root { get; }
    public string Project { get; }
    public string Model { get; }
    public string Spec { get; }
    public string Cli { get; }
    public string DotNet { get; }
    public string OutputDir { get; }
    public string ProjectFile { get; }
    public string Report => Path.Combine(OutputDir, "stories260K.report.md");

    public CapturingCompileTask NewTask(MockBuildEngine engine) => new()
    {
        BuildEngine = engine,
        Model = Model,
        Spec = Spec,
        OutputModel = Path.Combine(OutputDir, "stories260K.q.onnx"),
        Manifest = Path.Combine(OutputDir, "stories260K.manifest.json"),
        Report = Report,
        DependencyFile = Path.Combine(OutputDir, "modelc.deps"),
        CliPath = Cli,
        DotNetHostPath = DotNet,
        DisplayName = "StoryModel",
        ProjectFile = ProjectFile,
    };

    public static string Touch(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "");
        return path;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // Temp folder: the OS cleans up what is left.
        }
    }
}

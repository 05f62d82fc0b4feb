using Microsoft.Build.Framework;

namespace ModelCompiler.Tasks.Tests;

public sealed class ModelCompilerCompileTests : IDisposable
{
    private readonly CompileTaskFiles _files = new();
    private readonly MockBuildEngine _engine = new();

    public void Dispose() => _files.Dispose();

    private static string[] Lines(string? responseFile) => responseFile!.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public void Response_file_holds_the_compile_contract_one_argument_per_line()
    {
        var task = _files.NewTask(_engine);

        Assert.True(task.Execute(), _engine.Describe());

        Assert.Equal(1, task.Runs);
        Assert.Equal(
        [
            "compile",
            "--model", Quoted(_files.Model),
            "--spec", Quoted(_files.Spec),
            "--output", Quoted(task.OutputModel),
            "--manifest", Quoted(task.Manifest),
            "--report", Quoted(task.Report),
            "--deps", Quoted(task.DependencyFile!),
        ], Lines(task.ResponseFile));

        // The temp folder holds "project dir": paths with a space are quoted, the rest are not.
        static string Quoted(string path) => path.Contains(' ') ? "\"" + path + "\"" : path;
    }

    [Fact]
    public void Optional_switches_follow_the_properties()
    {
        var ort = CompileTaskFiles.Touch(Path.Combine(_files.Root, "gpu", "libonnxruntime.so"));
        var task = _files.NewTask(_engine);
        task.DependencyFile = null;
        task.OrtNativePath = ort;
        task.GatesAsWarnings = true;
        task.Verbose = true;

        Assert.True(task.Execute(), _engine.Describe());

        var lines = Lines(task.ResponseFile);
        Assert.DoesNotContain("--deps", lines);
        Assert.Equal(ort, lines[Array.IndexOf(lines, "--ort-native") + 1]);
        Assert.Contains("--gates-as-warnings", lines);
        Assert.Contains("--verbose", lines);
    }

    [Fact]
    public void Modelc_dll_runs_on_the_dotnet_host()
    {
        var task = _files.NewTask(_engine);

        Assert.True(task.Execute(), _engine.Describe());

        Assert.Equal(_files.DotNet, task.ExecutedTool);
        // The program's own command line names only modelc.dll; the arguments go in the response file.
        Assert.Equal(_files.Cli, task.CommandLine!.Trim().Trim('"'));
    }

    [Fact]
    public void Modelc_executable_runs_directly()
    {
        var exe = CompileTaskFiles.Touch(Path.Combine(_files.Root, "bin", "modelc"));
        var task = _files.NewTask(_engine);
        task.CliPath = exe;

        Assert.True(task.Execute(), _engine.Describe());

        Assert.Equal(exe, task.ExecutedTool);
        Assert.DoesNotContain("modelc.dll", task.CommandLine ?? "");
    }

    [Fact]
    public void Logged_command_line_is_the_whole_command_ready_to_paste()
    {
        var task = _files.NewTask(_engine);

        Assert.True(task.Execute(), _engine.Describe());

        var logged = Assert.Single(_engine.CommandLines);
        Assert.StartsWith(_files.DotNet + " ", logged);
        Assert.Contains(" compile --model ", logged);
        // A path with a space is single-quoted for a POSIX shell (double-quoted on Windows).
        var quote = OperatingSystem.IsWindows() ? "\"" : "'";
        Assert.Contains("--spec " + quote + _files.Spec + quote, logged);
        Assert.DoesNotContain("\n", logged);
    }

    [Fact]
    public void Diagnostic_with_line_and_column_becomes_an_error_at_that_place()
    {
        var task = _files.NewTask(_engine);
        task.StderrLines = ["/abs/path/spec.yaml(12,5): error MC2001: perplexity increase 3.1% exceeds max_perplexity_increase_pct 1.0"];
        task.ExitCodeToReturn = 1;

        Assert.False(task.Execute());

        var error = Assert.Single(_engine.Errors);
        Assert.Equal("/abs/path/spec.yaml", error.File);
        Assert.Equal(12, error.LineNumber);
        Assert.Equal(5, error.ColumnNumber);
        Assert.Equal("MC2001", error.Code);
        Assert.Equal("perplexity increase 3.1% exceeds max_perplexity_increase_pct 1.0", error.Message);
    }

    [Fact]
    public void Diagnostic_naming_only_a_file_has_no_position()
    {
        var task = _files.NewTask(_engine);
        task.StderrLines = ["/abs/path/model.onnx: error MC1002: the graph has no input named input_ids"];
        task.ExitCodeToReturn = 2;

        Assert.False(task.Execute());

        var error = Assert.Single(_engine.Errors);
        Assert.Equal(("/abs/path/model.onnx", 0, 0, "MC1002"), (error.File, error.LineNumber, error.ColumnNumber, error.Code));
    }

    [Fact]
    public void Diagnostic_from_the_tool_itself_names_modelc()
    {
        var task = _files.NewTask(_engine);
        task.StderrLines = ["modelc: error MC3001: CUDA execution provider failed: out of memory"];
        task.ExitCodeToReturn = 3;

        Assert.False(task.Execute());

        var error = Assert.Single(_engine.Errors);
        Assert.Equal(("modelc", "MC3001", "CUDA execution provider failed: out of memory"), (error.File, error.Code, error.Message));
    }

    [Fact]
    public void Warnings_are_warnings_and_do_not_fail_the_build()
    {
        var task = _files.NewTask(_engine);
        task.StderrLines = ["/abs/spec.yaml(9,9): warning MC1150: evaluation text is the calibration text"];

        Assert.True(task.Execute(), _engine.Describe());

        var warning = Assert.Single(_engine.Warnings);
        Assert.Equal(("/abs/spec.yaml", 9, 9, "MC1150"), (warning.File, warning.LineNumber, warning.ColumnNumber, warning.Code));
        Assert.Empty(_engine.Errors);
    }

    [Fact]
    public void Other_output_is_low_importance_detail()
    {
        var task = _files.NewTask(_engine);
        task.StderrLines = ["[calibration] window 3/8, 768/2048 tokens, 5120 tokens/s", "modelc: wrote /x/y.onnx (12 nodes, 4 initializers)"];

        Assert.True(task.Execute(), _engine.Describe());

        Assert.Empty(_engine.Errors);
        Assert.Empty(_engine.Warnings);
        foreach (var line in task.StderrLines)
        {
            var message = Assert.Single(_engine.Messages, m => m.Message == line);
            Assert.Equal(MessageImportance.Low, message.Importance);
        }
    }

    [Fact]
    public void Missed_gate_fails_the_build()
    {
        var task = _files.NewTask(_engine);
        task.StderrLines = ["/abs/spec.yaml(7,3): error MC2001: perplexity increase 3.1% exceeds 1.0"];
        task.ExitCodeToReturn = 1;

        Assert.False(task.Execute());

        Assert.Equal("MC2001", Assert.Single(_engine.Errors).Code);
    }

    [Fact]
    public void Gates_as_warnings_turns_a_missed_gate_into_a_warning_and_succeeds()
    {
        var task = _files.NewTask(_engine);
        task.GatesAsWarnings = true;
        task.StderrLines = ["/abs/spec.yaml(7,3): error MC2001: perplexity increase 3.1% exceeds 1.0"];
        task.ExitCodeToReturn = 1;

        Assert.True(task.Execute(), _engine.Describe());

        Assert.Empty(_engine.Errors);
        var warning = Assert.Single(_engine.Warnings);
        Assert.Equal(("MC2001", "/abs/spec.yaml", 7, 3), (warning.Code, warning.File, warning.LineNumber, warning.ColumnNumber));
    }

    [Fact]
    public void Gates_as_warnings_does_not_excuse_bad_input()
    {
        var task = _files.NewTask(_engine);
        task.GatesAsWarnings = true;
        task.StderrLines = ["/abs/spec.yaml(2,1): error MC1105: unknown key 'polcy' (did you mean 'policy'?)"];
        task.ExitCodeToReturn = 2;

        Assert.False(task.Execute());

        Assert.Equal("MC1105", Assert.Single(_engine.Errors).Code);
        Assert.Empty(_engine.Warnings);
    }

    [Theory]
    [InlineData(1, "a quality gate was missed")]
    [InlineData(2, "bad input")]
    [InlineData(3, "runtime failure")]
    [InlineData(134, "unexpected exit code")]
    public void Failure_without_a_diagnostic_still_explains_itself(int exitCode, string meaning)
    {
        var task = _files.NewTask(_engine);
        task.StderrLines = ["Unhandled exception. System.InvalidOperationException: boom"];
        task.ExitCodeToReturn = exitCode;

        Assert.False(task.Execute());

        var error = Assert.Single(_engine.Errors);
        Assert.Equal("MC1206", error.Code);
        Assert.Contains($"exit code {exitCode} ({meaning})", error.Message);
        Assert.Equal(_files.ProjectFile, error.File);
    }

    [Fact]
    public void An_error_line_fails_the_task_even_when_modelc_exits_0()
    {
        var task = _files.NewTask(_engine);
        task.StderrLines = ["modelc: error MC3002: validation on cpu failed"];

        Assert.False(task.Execute());

        Assert.Equal("MC3002", Assert.Single(_engine.Errors).Code);
    }

    [Fact]
    public void Report_path_is_logged_at_normal_importance()
    {
        var task = _files.NewTask(_engine);
        task.OnRun = () => CompileTaskFiles.Touch(_files.Report);

        Assert.True(task.Execute(), _engine.Describe());

        var message = Assert.Single(_engine.Messages, m => m.Message!.StartsWith("ModelCompiler: StoryModel report: "));
        Assert.Equal($"ModelCompiler: StoryModel report: {_files.Report}", message.Message);
        Assert.Equal(MessageImportance.Normal, message.Importance);
        Assert.Equal(_files.Report, task.WrittenReport);
    }

    [Fact]
    public void Report_path_is_logged_at_high_importance_after_a_missed_gate()
    {
        var task = _files.NewTask(_engine);
        task.StderrLines = ["/abs/spec.yaml(7,3): error MC2001: perplexity increase 3.1% exceeds 1.0"];
        task.ExitCodeToReturn = 1;
        task.OnRun = () => CompileTaskFiles.Touch(_files.Report);

        Assert.False(task.Execute());

        var message = Assert.Single(_engine.Messages, m => m.Message!.StartsWith("ModelCompiler: StoryModel report: "));
        Assert.Equal(MessageImportance.High, message.Importance);
    }

    [Fact]
    public void A_report_left_by_an_earlier_run_is_not_announced()
    {
        CompileTaskFiles.Touch(_files.Report);
        var task = _files.NewTask(_engine);
        task.CliPath = Path.Combine(_files.Root, "nowhere", "modelc.dll");

        Assert.False(task.Execute());

        Assert.DoesNotContain(_engine.Messages, m => m.Message!.Contains(" report: "));
        Assert.Null(task.WrittenReport);
    }

    [Fact]
    public void Missing_spec_metadata_is_MC1201_and_modelc_does_not_run()
    {
        var task = _files.NewTask(_engine);
        task.Spec = "";

        Assert.False(task.Execute());

        AssertTaskError("MC1201", "has no Spec metadata");
        Assert.Equal(0, task.Runs);
    }

    [Fact]
    public void Missing_spec_file_is_MC1202()
    {
        var task = _files.NewTask(_engine);
        task.Spec = Path.Combine(_files.Project, "models", "nope.yaml");

        Assert.False(task.Execute());

        AssertTaskError("MC1202", "nope.yaml");
        Assert.Equal(0, task.Runs);
    }

    [Fact]
    public void Missing_model_is_MC1203()
    {
        var task = _files.NewTask(_engine);
        task.Model = Path.Combine(_files.Project, "models", "missing.onnx");

        Assert.False(task.Execute());

        AssertTaskError("MC1203", "missing.onnx");
    }

    [Fact]
    public void Missing_modelc_is_MC1204()
    {
        var task = _files.NewTask(_engine);
        task.CliPath = Path.Combine(_files.Root, "nowhere", "modelc.dll");

        Assert.False(task.Execute());

        AssertTaskError("MC1204", "ModelCompiler_CliPath");
        Assert.Equal(0, task.Runs);
    }

    [Fact]
    public void Missing_ort_native_library_is_MC1207()
    {
        var task = _files.NewTask(_engine);
        task.OrtNativePath = Path.Combine(_files.Root, "gpu", "libonnxruntime.so");

        Assert.False(task.Execute());

        AssertTaskError("MC1207", "ModelCompiler_OrtNativePath");
    }

    [Fact]
    public void Path_with_a_double_quote_is_refused_before_running()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // Windows file names cannot hold a double quote.
        }

        var odd = CompileTaskFiles.Touch(Path.Combine(_files.Project, "models", "odd\"name.yaml"));
        var task = _files.NewTask(_engine);
        task.Spec = odd;

        Assert.False(task.Execute());

        AssertTaskError("MC1210", "double quote");
        Assert.Equal(0, task.Runs);
    }

    private void AssertTaskError(string code, string text)
    {
        var error = Assert.Single(_engine.Errors);
        Assert.Equal(code, error.Code);
        Assert.Contains(text, error.Message);
        Assert.Equal(_files.ProjectFile, error.File);
    }
}

using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using ModelCompiler.Tests;

namespace ModelCompiler.Tasks.Tests;

public sealed class ModelCompilerResolveItemsTests : IDisposable
{
    private readonly string _project = TestPaths.NewTempDir("mc-resolve");
    private readonly MockBuildEngine _engine = new();

    public void Dispose() => Directory.Delete(_project, recursive: true);

    private string Obj => Path.Combine(_project, "obj", "Debug", "net10.0", "modelcompiler");

    private static TaskItem Item(string include, string? spec = "models/stories260K.quant.yaml", string className = "", string ns = "Demo", string access = "public")
    {
        var item = new TaskItem(include);
        if (spec != null)
        {
            item.SetMetadata("Spec", spec);
        }

        item.SetMetadata("ClassName", className);
        item.SetMetadata("Namespace", ns);
        item.SetMetadata("Access", access);
        return item;
    }

    private ModelCompilerResolveItems NewTask(params ITaskItem[] models) => new()
    {
        BuildEngine = _engine,
        Models = models,
        ProjectDirectory = _project,
        ProjectFile = Path.Combine(_project, "App.csproj"),
        IntermediateDirectory = "obj/Debug/net10.0/modelcompiler/",
        CliPath = "/pkg/tools/modelc/modelc.dll",
        WriteOptionsFiles = true,
    };

    [Fact]
    public void Resolves_paths_names_and_outputs_of_an_item()
    {
        var task = NewTask(Item("models/stories260K.onnx", className: "StoryModel"));

        Assert.True(task.Execute(), _engine.Describe());

        var r = Assert.Single(task.ResolvedModels);
        var dir = Path.Combine(Obj, "stories260K") + Path.DirectorySeparatorChar;
        var model = Path.Combine(_project, "models", "stories260K.onnx");
        Assert.Equal(model, r.ItemSpec);
        Assert.Equal(model, r.GetMetadata("Source"));
        Assert.Equal(Path.Combine(_project, "models", "stories260K.quant.yaml"), r.GetMetadata("SpecPath"));
        Assert.Equal("StoryModel", r.GetMetadata("ClassName"));
        Assert.Equal(dir, r.GetMetadata("OutputDirectory"));
        Assert.Equal(dir + "stories260K.q.onnx", r.GetMetadata("OutputModel"));
        Assert.Equal(dir + "stories260K.q.tokenizer.bin", r.GetMetadata("Tokenizer"));
        Assert.Equal(dir + "stories260K.q.tokenizer.json", r.GetMetadata("TokenizerJson"));
        Assert.Equal(dir + "stories260K.q.tokenizer.model", r.GetMetadata("TokenizerModel"));
        Assert.Equal(dir + "stories260K.q.onnx.data", r.GetMetadata("ExternalData"));
        Assert.Equal(dir + "stories260K.manifest.json", r.GetMetadata("Manifest"));
        Assert.Equal(dir + "stories260K.report.md", r.GetMetadata("Report"));
        Assert.Equal(Path.Combine("models", "stories260K.q.onnx"), r.GetMetadata("ModelTargetPath"));

        Assert.Equal(
            new[] { "stories260K.q.onnx", "stories260K.manifest.json", "stories260K.report.md", "modelc.stamp" },
            task.ExpectedOutputs.Select(o => Path.GetFileName(o.ItemSpec)));
        Assert.All(task.ExpectedOutputs.Concat(task.Inputs).Concat(task.OutputFiles), i => Assert.Equal(model, i.GetMetadata("Source")));
    }

    [Fact]
    public void Manifest_carries_what_the_generator_reads()
    {
        var task = NewTask(Item("models/stories260K.onnx", className: "StoryModel", ns: "Demo", access: "Internal"));

        Assert.True(task.Execute(), _engine.Describe());

        var manifest = Assert.Single(task.OutputFiles, f => f.GetMetadata("Kind") == "manifest");
        Assert.Equal("true", manifest.GetMetadata("ModelCompilerManifest"));
        Assert.Equal("StoryModel", manifest.GetMetadata("ModelCompilerClassName"));
        Assert.Equal("Demo", manifest.GetMetadata("ModelCompilerNamespace"));
        Assert.Equal("internal", manifest.GetMetadata("ModelCompilerAccess"));
        Assert.Equal("models/stories260K.q.onnx", manifest.GetMetadata("ModelCompilerModelPath"));
    }

    [Fact]
    public void Model_tokenizer_and_external_data_are_copied_beside_each_other()
    {
        var task = NewTask(Item("models/stories260K.onnx"));

        Assert.True(task.Execute(), _engine.Describe());

        var copied = task.OutputFiles.Where(f => f.GetMetadata("TargetPath") != "").Select(f => (f.GetMetadata("Kind"), f.GetMetadata("TargetPath")));
        var models = "models" + Path.DirectorySeparatorChar;
        // The tokenizer copy is named after its format, which modelc learns only when it runs: every name is listed,
        // and the targets copy those that exist.
        Assert.Equal(new[]
        {
            ("model", models + "stories260K.q.onnx"),
            ("tokenizer", models + "stories260K.q.tokenizer.bin"),
            ("tokenizer", models + "stories260K.q.tokenizer.json"),
            ("tokenizer", models + "stories260K.q.tokenizer.model"),
            ("data", models + "stories260K.q.onnx.data"),
        }, copied);
        Assert.Equal(
            new[] { "model", "tokenizer", "tokenizer", "tokenizer", "data", "manifest", "report", "layer_plot", "deps", "stamp", "options" },
            task.OutputFiles.Select(f => f.GetMetadata("Kind")));
    }

    [Theory]
    [InlineData("stories260K", "Stories260K")]
    [InlineData("tiny-llama_v2.int8", "TinyLlamaV2Int8")]
    [InlineData("7b-chat", "_7bChat")]
    [InlineData("phi3", "Phi3")]
    public void Class_name_defaults_to_the_file_name_in_PascalCase(string stem, string expected)
    {
        var task = NewTask(Item($"models/{stem}.onnx"));

        Assert.True(task.Execute(), _engine.Describe());

        Assert.Equal(expected, Assert.Single(task.ResolvedModels).GetMetadata("ClassName"));
    }

    [Fact]
    public void A_model_outside_the_project_lands_in_the_output_root_unless_told_otherwise()
    {
        var outside = new TaskItem(Path.Combine(Path.GetTempPath(), "shared-models", "other.onnx"));
        outside.SetMetadata("Spec", "other.quant.yaml");
        var placed = Item("../elsewhere/placed.onnx");
        placed.SetMetadata("TargetDirectory", "assets\\llm/");

        var task = NewTask(outside, placed);

        Assert.True(task.Execute(), _engine.Describe());

        Assert.Equal("other.q.onnx", task.ResolvedModels[0].GetMetadata("ModelTargetPath"));
        Assert.Equal(Path.Combine("assets", "llm", "placed.q.onnx"), task.ResolvedModels[1].GetMetadata("ModelTargetPath"));
    }

    [Fact]
    public void Models_sharing_a_file_name_get_folders_of_their_own()
    {
        var task = NewTask(Item("a/model.onnx"), Item("b/model.onnx"));

        Assert.True(task.Execute(), _engine.Describe());

        var folders = task.ResolvedModels.Select(r => Path.GetFileName(r.GetMetadata("OutputDirectory").TrimEnd(Path.DirectorySeparatorChar))).ToArray();
        Assert.Equal(2, folders.Distinct().Count());
        Assert.All(folders, f => Assert.Matches("^model-[0-9a-f]{8}$", f));
    }

    [Fact]
    public void Missing_spec_metadata_is_MC1201_at_the_project()
    {
        var task = NewTask(Item("models/stories260K.onnx", spec: null));

        Assert.False(task.Execute());

        var error = Assert.Single(_engine.Errors);
        Assert.Equal(("MC1201", Path.Combine(_project, "App.csproj")), (error.Code, error.File));
        Assert.Empty(task.ResolvedModels);
    }

    [Theory]
    [InlineData("9Lives")]
    [InlineData("My-Model")]
    [InlineData("class")]
    [InlineData("A.B")]
    [InlineData("Tiny Llama")]
    public void Invalid_ClassName_is_MC1211_at_the_project(string className)
    {
        var task = NewTask(Item("models/stories260K.onnx", className: className));

        Assert.False(task.Execute());

        var error = Assert.Single(_engine.Errors);
        Assert.Equal(("MC1211", Path.Combine(_project, "App.csproj")), (error.Code, error.File));
        Assert.Empty(task.ResolvedModels);
    }

    [Theory]
    [InlineData("../../../escaped")]
    [InlineData("assets/../../up")]
    [InlineData("/abs/dir")]
    [InlineData("..\\win")]
    public void TargetDirectory_leaving_the_output_folder_is_MC1212_at_the_project(string target)
    {
        var item = Item("models/stories260K.onnx");
        item.SetMetadata("TargetDirectory", target);
        var task = NewTask(item);

        Assert.False(task.Execute());

        var error = Assert.Single(_engine.Errors);
        Assert.Equal(("MC1212", Path.Combine(_project, "App.csproj")), (error.Code, error.File));
    }

    [Fact]
    public void Access_other_than_public_or_internal_is_MC1208()
    {
        var task = NewTask(Item("models/stories260K.onnx", access: "private"));

        Assert.False(task.Execute());

        Assert.Equal("MC1208", Assert.Single(_engine.Errors).Code);
    }

    [Fact]
    public void The_same_model_twice_is_MC1209()
    {
        var task = NewTask(Item("models/stories260K.onnx"), Item("models/../models/stories260K.onnx", spec: "other.yaml"));

        Assert.False(task.Execute());

        Assert.Equal("MC1209", Assert.Single(_engine.Errors).Code);
    }

    [Fact]
    public void Inputs_are_the_spec_the_options_and_every_file_modelc_read_last_time()
    {
        var dir = Path.Combine(Obj, "stories260K");
        Directory.CreateDirectory(dir);
        var calibration = Path.Combine(_project, "data", "calibration.txt");
        File.WriteAllLines(Path.Combine(dir, "modelc.deps"), [Path.Combine(_project, "models", "stories260K.onnx"), calibration, "", calibration]);

        var task = NewTask(Item("models/stories260K.onnx"));

        Assert.True(task.Execute(), _engine.Describe());

        Assert.Equal(
            new[]
            {
                Path.Combine(_project, "models", "stories260K.quant.yaml"),
                Path.Combine(dir, "modelc.options"),
                Path.Combine(_project, "models", "stories260K.onnx"),
                calibration,
            },
            task.Inputs.Select(i => i.ItemSpec));
    }

    [Fact]
    public void Options_file_is_rewritten_only_when_an_option_changes()
    {
        var options = Path.Combine(Obj, "stories260K", "modelc.options");
        Assert.True(NewTask(Item("models/stories260K.onnx")).Execute(), _engine.Describe());
        var old = DateTime.UtcNow.AddHours(-1);
        File.SetLastWriteTimeUtc(options, old);

        Assert.True(NewTask(Item("models/stories260K.onnx")).Execute(), _engine.Describe());
        Assert.Equal(old, File.GetLastWriteTimeUtc(options));

        var changed = NewTask(Item("models/stories260K.onnx"));
        changed.GatesAsWarnings = true;
        Assert.True(changed.Execute(), _engine.Describe());
        Assert.NotEqual(old, File.GetLastWriteTimeUtc(options));
        Assert.Contains("gates-as-warnings=true", File.ReadAllText(options));
    }

    [Fact]
    public void Resolving_for_clean_writes_nothing()
    {
        var task = NewTask(Item("models/stories260K.onnx"));
        task.WriteOptionsFiles = false;

        Assert.True(task.Execute(), _engine.Describe());

        Assert.False(Directory.Exists(Obj));
    }
}

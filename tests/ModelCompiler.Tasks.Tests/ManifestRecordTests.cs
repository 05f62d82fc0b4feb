using System.Security.Cryptography;
using Microsoft.Build.Utilities;
using ModelCompiler.Tests;

namespace ModelCompiler.Tasks.Tests;

/// <summary>
/// The manifest as commit record for consumers: a manifest whose model sha256 does not match the model beside it, or
/// whose model is gone, is removed with the stamp at resolve time (no wrapper for a mismatched pair, modelc runs again);
/// a matching pair, even one whose model was touched, is kept.
/// </summary>
public sealed class ManifestRecordTests : IDisposable
{
    private readonly string _project = TestPaths.NewTempDir("mc-record");
    private readonly MockBuildEngine _engine = new();

    public void Dispose() => Directory.Delete(_project, recursive: true);

    private string Dir => Path.Combine(_project, "obj", "modelcompiler", "m");
    private string Model => Path.Combine(Dir, "m.q.onnx");
    private string Manifest => Path.Combine(Dir, "m.manifest.json");
    private string Stamp => Path.Combine(Dir, "modelc.stamp");

    /// <summary>A committed set: the model, a manifest naming its sha256 (computed here, independently), the stamp last.</summary>
    private void Commit(byte[] model)
    {
        Directory.CreateDirectory(Dir);
        File.WriteAllBytes(Model, model);
        var sha = Convert.ToHexStringLower(SHA256.HashData(model));
        File.WriteAllText(Manifest, $$"""{ "format": "modelcompiler-manifest", "model": { "file": "m.q.onnx", "sha256": "{{sha}}" } }""");
        var past = DateTime.UtcNow.AddMinutes(-10);
        File.SetLastWriteTimeUtc(Model, past);
        File.SetLastWriteTimeUtc(Manifest, past);
        File.WriteAllText(Stamp, "");
        File.SetLastWriteTimeUtc(Stamp, past.AddSeconds(1));
    }

    private bool Resolve()
    {
        Directory.CreateDirectory(Path.Combine(_project, "models"));
        File.WriteAllBytes(Path.Combine(_project, "models", "m.onnx"), [1]);
        File.WriteAllText(Path.Combine(_project, "models", "m.quant.yaml"), "policy: { kind: all-int8 }\n");
        var item = new TaskItem("models/m.onnx");
        item.SetMetadata("Spec", "models/m.quant.yaml");
        var task = new ModelCompilerResolveItems
        {
            BuildEngine = _engine,
            Models = [item],
            ProjectDirectory = _project,
            ProjectFile = Path.Combine(_project, "App.csproj"),
            IntermediateDirectory = "obj/modelcompiler/",
        };
        var ok = task.Execute();
        Assert.Equal(Manifest, Assert.Single(task.ResolvedModels).GetMetadata("Manifest"));
        return ok;
    }

    [Fact]
    public void A_matching_set_is_kept_and_the_model_is_not_hashed_when_older_than_the_stamp()
    {
        Commit([1, 2, 3]);
        Assert.True(Resolve(), _engine.Describe());
        Assert.True(File.Exists(Manifest) && File.Exists(Stamp));
        Assert.DoesNotContain(_engine.Messages, m => m.Message!.Contains("not built", StringComparison.Ordinal));
    }

    [Fact]
    public void A_replaced_model_makes_the_set_not_built()
    {
        Commit([1, 2, 3]);
        File.WriteAllBytes(Model, [9, 9, 9, 9]); // newer than the stamp, another sha256

        Assert.True(Resolve(), _engine.Describe());

        Assert.False(File.Exists(Manifest), "a manifest for another model is left for the generator");
        Assert.False(File.Exists(Stamp), "the stamp would keep MSBuild from running modelc again");
        Assert.True(File.Exists(Model));
        Assert.Contains(_engine.Messages, m => m.Message!.Contains("records sha256", StringComparison.Ordinal));
    }

    [Fact]
    public void A_missing_model_makes_the_set_not_built()
    {
        Commit([1, 2, 3]);
        File.Delete(Model);
        Assert.True(Resolve(), _engine.Describe());
        Assert.False(File.Exists(Manifest));
        Assert.False(File.Exists(Stamp));
    }

    [Fact]
    public void A_touched_but_identical_model_keeps_the_set()
    {
        Commit([1, 2, 3]);
        File.SetLastWriteTimeUtc(Model, DateTime.UtcNow);
        Assert.True(Resolve(), _engine.Describe());
        Assert.True(File.Exists(Manifest) && File.Exists(Stamp));
    }

    [Fact]
    public void A_manifest_without_a_stamp_that_does_not_match_is_removed()
    {
        // A killed build: modelc committed nothing new, but someone copied another model into place.
        Commit([1, 2, 3]);
        File.Delete(Stamp);
        File.WriteAllBytes(Model, [4, 5, 6]);
        File.SetLastWriteTimeUtc(Model, DateTime.UtcNow.AddMinutes(-20));
        Assert.True(Resolve(), _engine.Describe());
        Assert.False(File.Exists(Manifest));
    }
}

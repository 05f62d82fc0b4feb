using ModelCompiler.Tests;

namespace ModelCompiler.Cli.Tests;

/// <summary>stories260K imported once with <c>modelc import llama2c</c>, shared by the CLI tests.</summary>
public sealed class ModelcFixture : IDisposable
{
    public ModelcFixture()
    {
        Directory = TestPaths.NewTempDir("mc-cli");
        ModelPath = Path.Combine(Directory, "stories260K.onnx");
        Import = Modelc.Run("import", "llama2c", TestPaths.Checkpoint, "--tokenizer", TestPaths.Tokenizer, "--output", ModelPath);
    }

    public string Directory { get; }
    public string ModelPath { get; }
    public ModelcResult Import { get; }

    public string File(string name) => Path.Combine(Directory, name);

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}

[CollectionDefinition(Name)]
public sealed class ModelcCollection : ICollectionFixture<ModelcFixture>
{
    public const string Name = "modelc";
}

using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;

namespace ModelCompiler.Generator.Tests.Infrastructure;

/// <summary>An AdditionalFiles item held in memory.</summary>
internal sealed class InMemoryAdditionalText(string path, string? text) : AdditionalText
{
    public override string Path { get; } = path;

    public string? Content { get; } = text;

    public override SourceText? GetText(CancellationToken cancellationToken = default)
        => Content is null ? null : SourceText.From(Content);
}

/// <summary>Analyzer config options from a dictionary, as MSBuild would write them to the generated .editorconfig.</summary>
internal sealed class DictionaryConfigOptions(IReadOnlyDictionary<string, string> values) : AnalyzerConfigOptions
{
    public static readonly DictionaryConfigOptions Empty = new(new Dictionary<string, string>());

    public override bool TryGetValue(string key, [NotNullWhen(true)] out string? value)
        => values.TryGetValue(key, out value);

    public override IEnumerable<string> Keys => values.Keys;
}

/// <summary>Per-file metadata (keyed by path) and global properties.</summary>
internal sealed class TestOptionsProvider(
    IReadOnlyDictionary<string, DictionaryConfigOptions> fileOptions,
    DictionaryConfigOptions globalOptions) : AnalyzerConfigOptionsProvider
{
    public override AnalyzerConfigOptions GlobalOptions { get; } = globalOptions;

    public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => DictionaryConfigOptions.Empty;

    public override AnalyzerConfigOptions GetOptions(AdditionalText textFile)
        => fileOptions.TryGetValue(textFile.Path, out var options) ? options : DictionaryConfigOptions.Empty;
}

/// <summary>A manifest as an AdditionalFiles item with ModelCompiler metadata (null metadata values are left out).</summary>
internal sealed record TestManifest(string Path, string? Text, string? ClassName = null, string? Namespace = null, string? Access = null, string? ModelPath = null, string? IsManifest = "true")
{
    /// <summary>One instance per manifest, as the compiler keeps one per unchanged file.</summary>
    public InMemoryAdditionalText AdditionalText { get; } = new(Path, Text);

    public DictionaryConfigOptions ToOptions()
    {
        var values = new Dictionary<string, string>();
        void Add(string name, string? value)
        {
            if (value is not null)
            {
                values["build_metadata.AdditionalFiles." + name] = value;
            }
        }

        Add("ModelCompilerManifest", IsManifest);
        Add("ModelCompilerClassName", ClassName);
        Add("ModelCompilerNamespace", Namespace);
        Add("ModelCompilerAccess", Access);
        Add("ModelCompilerModelPath", ModelPath);
        return new DictionaryConfigOptions(values);
    }
}

/// <summary>The fixtures beside the test assembly.</summary>
internal static class Fixtures
{
    public static string Read(string name) => File.ReadAllText(System.IO.Path.Combine(AppContext.BaseDirectory, "Fixtures", name));

    public static string Stories => Read("stories260K.manifest.json");

    public static string Classifier => Read("image_classifier.manifest.json");

    /// <summary>The stories260K manifest as the build targets would pass it for <c>&lt;QuantizedModel ClassName="StoryModel" /&gt;</c>.</summary>
    public static TestManifest StoryManifest(string? text = null) => new(
        "/project/obj/modelc/stories260K.manifest.json",
        text ?? Stories,
        ClassName: "StoryModel",
        Namespace: "Demo",
        Access: "public",
        ModelPath: "stories260K.q.onnx");

    /// <summary>A non-decoder model: an internal class in a nested namespace, model in a subfolder.</summary>
    public static TestManifest ClassifierManifest(string? text = null) => new(
        "/project/obj/modelc/image_classifier.manifest.json",
        text ?? Classifier,
        ClassName: "ImageClassifier",
        Namespace: "Demo.Vision",
        Access: "internal",
        ModelPath: "models\\image_classifier.q.onnx");

    public static ImmutableArray<string> AllHintNames => ["Demo.StoryModel.g.cs", "Demo.Vision.ImageClassifier.g.cs"];
}

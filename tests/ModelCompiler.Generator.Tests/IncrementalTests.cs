using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using ModelCompiler.Generator.Tests.Infrastructure;

namespace ModelCompiler.Generator.Tests;

/// <summary>The pipeline caches: unchanged inputs re-run nothing, one changed manifest re-runs only its own steps.</summary>
public sealed class IncrementalTests
{
    private static readonly string[] TrackedSteps =
    [
        ManifestGenerator.TrackingNames.ManifestFiles,
        ManifestGenerator.TrackingNames.Manifests,
        ManifestGenerator.TrackingNames.Sources,
        ManifestGenerator.TrackingNames.OnnxRuntimeReference,
        ManifestGenerator.TrackingNames.All,
    ];

    [Fact]
    public void Second_run_with_unchanged_inputs_is_fully_cached()
    {
        var compilation = GeneratorHarness.CreateCompilation([]);
        var first = GeneratorHarness.Run(GeneratorHarness.CreateDriver([Fixtures.StoryManifest(), Fixtures.ClassifierManifest()]), compilation);

        var second = GeneratorHarness.Run(first.Driver, compilation.Clone());

        AssertAllCached(second.Result);
        Assert.Equal(first.Sources, second.Sources);
    }

    [Fact]
    public void Editing_user_code_does_not_regenerate()
    {
        var compilation = GeneratorHarness.CreateCompilation([]);
        var first = GeneratorHarness.Run(GeneratorHarness.CreateDriver([Fixtures.StoryManifest(), Fixtures.ClassifierManifest()]), compilation);

        var edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("internal static class Edited { }", GeneratorHarness.ParseOptions()));
        var second = GeneratorHarness.Run(first.Driver, edited);

        AssertAllCached(second.Result);
    }

    [Fact]
    public void Changing_one_manifest_reruns_only_its_own_steps()
    {
        var compilation = GeneratorHarness.CreateCompilation([]);
        var story = Fixtures.StoryManifest();
        var classifier = Fixtures.ClassifierManifest();
        var first = GeneratorHarness.Run(GeneratorHarness.CreateDriver([story, classifier]), compilation);

        string edited = Fixtures.Classifier.Replace("\"external_data\": \"image_classifier.q.onnx.data\"", "\"external_data\": null", StringComparison.Ordinal);
        Assert.NotEqual(Fixtures.Classifier, edited);
        var editedText = new InMemoryAdditionalText(classifier.Path, edited);
        var second = GeneratorHarness.Run(first.Driver.ReplaceAdditionalText(classifier.AdditionalText, editedText), compilation.Clone());

        // The story manifest is cached; the classifier is re-parsed, but to an equal model, so nothing downstream runs.
        Assert.Equal([IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged], Reasons(second, ManifestGenerator.TrackingNames.Manifests));
        Assert.Equal([IncrementalStepRunReason.Cached, IncrementalStepRunReason.Cached], Reasons(second, ManifestGenerator.TrackingNames.Sources));

        // A change that matters regenerates the classifier only.
        string resized = edited.Replace("\"batch\",\n          3\n", "\"batch\",\n          4\n", StringComparison.Ordinal);
        Assert.NotEqual(edited, resized);
        var third = GeneratorHarness.Run(
            second.Driver.ReplaceAdditionalText(editedText, new InMemoryAdditionalText(classifier.Path, resized)),
            compilation.Clone());

        Assert.Equal([IncrementalStepRunReason.Cached, IncrementalStepRunReason.Modified], Reasons(third, ManifestGenerator.TrackingNames.Sources));
        Assert.Contains("[batch, 4]", third.Sources["Demo.Vision.ImageClassifier.g.cs"], StringComparison.Ordinal);
        Assert.Equal(first.Sources["Demo.StoryModel.g.cs"], third.Sources["Demo.StoryModel.g.cs"]);
    }

    private static List<IncrementalStepRunReason> Reasons(GeneratorOutcome outcome, string step)
        => outcome.Result.TrackedSteps[step].SelectMany(s => s.Outputs).Select(o => o.Reason).ToList();

    private static void AssertAllCached(GeneratorRunResult result)
    {
        foreach (var name in TrackedSteps)
        {
            Assert.True(result.TrackedSteps.TryGetValue(name, out var steps), $"Step {name} was not tracked.");
            foreach (var output in steps.SelectMany(s => s.Outputs))
            {
                Assert.True(
                    output.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged,
                    $"Step {name} produced {output.Reason}.");
            }
        }

        foreach (var output in result.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs))
        {
            Assert.True(output.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"Output step produced {output.Reason}.");
        }
    }
}

using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using ModelCompiler.Generator.Tests.Infrastructure;

namespace ModelCompiler.Generator.Tests;

/// <summary>The generated code compiles cleanly against the real ONNX Runtime API, as strictly as this repository builds.</summary>
public sealed class CompilationTests
{
    [Theory]
    [InlineData(LanguageVersion.Latest)]
    [InlineData(LanguageVersion.CSharp8)]
    public void Generated_code_and_user_program_compile_without_warnings(LanguageVersion version)
    {
        var outcome = GeneratorHarness.Run(
            [Fixtures.StoryManifest(), Fixtures.ClassifierManifest()],
            [UserPrograms.Story, UserPrograms.Classifier],
            version: version);

        Assert.Empty(outcome.GeneratorDiagnostics);
        Assert.Equal(2, outcome.Sources.Count);
        Assert.True(outcome.CompilationProblems.IsEmpty, GeneratorHarness.Format(outcome.CompilationProblems));
    }

    [Fact]
    public void Public_members_are_documented_and_access_follows_metadata()
    {
        var outcome = GeneratorHarness.Run([Fixtures.StoryManifest(), Fixtures.ClassifierManifest()]);
        var story = outcome.OutputCompilation.GetTypeByMetadataName("Demo.StoryModel")!;
        var classifier = outcome.OutputCompilation.GetTypeByMetadataName("Demo.Vision.ImageClassifier")!;

        Assert.Equal(Accessibility.Public, story.DeclaredAccessibility);
        Assert.Equal(Accessibility.Internal, classifier.DeclaredAccessibility);
        Assert.True(story.IsSealed);
        foreach (var member in story.GetMembers().Concat(story.GetTypeMembers().SelectMany(t => t.GetMembers()))
                     .Where(m => m.DeclaredAccessibility == Accessibility.Public && !m.IsImplicitlyDeclared && m is not IMethodSymbol { AssociatedSymbol: not null }))
        {
            Assert.False(string.IsNullOrWhiteSpace(member.GetDocumentationCommentXml()), $"{member.ToDisplayString()} has no XML documentation.");
        }
    }

    [Fact]
    public void Tensor_names_become_pascal_case_members()
    {
        var outcome = GeneratorHarness.Run([Fixtures.StoryManifest()]);
        var inputs = outcome.OutputCompilation.GetTypeByMetadataName("Demo.StoryModel+Inputs")!;
        var outputs = outcome.OutputCompilation.GetTypeByMetadataName("Demo.StoryModel+Outputs")!;

        foreach (var name in new[] { "InputIds", "AttentionMask", "PositionIds", "PastKeyValues0Key", "PastKeyValues4Value", "SetPastKeyValues0Key" })
        {
            Assert.NotEmpty(inputs.GetMembers(name));
        }

        foreach (var name in new[] { "Logits", "LogitsData", "LogitsShape", "Present0Value", "Present4Key" })
        {
            Assert.NotEmpty(outputs.GetMembers(name));
        }
    }

    [Fact]
    public void Defaults_come_from_the_model_file_and_root_namespace()
    {
        var manifest = new TestManifest("/project/obj/stories260K.manifest.json", Fixtures.Stories);

        var outcome = GeneratorHarness.Run([manifest], rootNamespace: "My.App");

        Assert.Empty(outcome.GeneratorDiagnostics);
        Assert.Equal(["My.App.Stories260KQ.g.cs"], outcome.Sources.Keys);
        string source = outcome.Sources["My.App.Stories260KQ.g.cs"];
        Assert.Contains("public sealed partial class Stories260KQ", source, StringComparison.Ordinal);
        Assert.Contains("Path.Combine(global::System.AppContext.BaseDirectory, \"stories260K.q.onnx\")", source, StringComparison.Ordinal);
        Assert.True(outcome.CompilationProblems.IsEmpty, GeneratorHarness.Format(outcome.CompilationProblems));
    }

    [Fact]
    public void Without_any_namespace_the_class_is_global()
    {
        var manifest = new TestManifest("/project/obj/stories260K.manifest.json", Fixtures.Stories, ClassName: "Story");

        var outcome = GeneratorHarness.Run([manifest], rootNamespace: null);

        Assert.Equal(["Story.g.cs"], outcome.Sources.Keys);
        Assert.DoesNotContain("namespace", outcome.Sources["Story.g.cs"], StringComparison.Ordinal);
        Assert.NotNull(outcome.OutputCompilation.GetTypeByMetadataName("Story"));
        Assert.True(outcome.CompilationProblems.IsEmpty, GeneratorHarness.Format(outcome.CompilationProblems));
    }

    [Fact]
    public void Awkward_names_become_valid_identifiers()
    {
        // Keywords, leading digits, clashes after PascalCase and names of the nested types' own members.
        string manifest = """
            {
              "format": "modelcompiler-manifest",
              "format_version": 1,
              "model": { "file": "7-up.onnx" },
              "signature": {
                "inputs": [
                  { "name": "class", "element_type": "string", "shape": [] },
                  { "name": "0.weird name", "element_type": "bool", "shape": [null, 2] },
                  { "name": "input-ids", "element_type": "uint8", "shape": ["n"] },
                  { "name": "input_ids", "element_type": "bfloat16", "shape": ["n"] },
                  { "name": "dispose", "element_type": "int8", "shape": [1] },
                  { "name": "@#$", "element_type": "float64", "shape": [1] },
                  { "name": "set_class", "element_type": "uint64", "shape": [1] }
                ],
                "outputs": [
                  { "name": "class", "element_type": "string", "shape": [1] },
                  { "name": "class_data", "element_type": "int16", "shape": [1] },
                  { "name": "to_string", "element_type": "uint16", "shape": [1] },
                  { "name": "_7up", "element_type": "uint32", "shape": [1] }
                ]
              },
              "decoder": null
            }
            """;
        var outcome = GeneratorHarness.Run(
            [new TestManifest("/p/weird.manifest.json", manifest, Namespace: "Demo.@event.@class")]);

        Assert.Empty(outcome.GeneratorDiagnostics);
        Assert.Equal(["Demo.event.class._7Up.g.cs"], outcome.Sources.Keys);
        Assert.True(outcome.CompilationProblems.IsEmpty, GeneratorHarness.Format(outcome.CompilationProblems));
        var inputs = outcome.OutputCompilation.GetTypeByMetadataName("Demo.event.class._7Up+Inputs")!;
        var names = inputs.GetMembers().Where(m => m.DeclaredAccessibility == Accessibility.Public && m is IPropertySymbol).Select(m => m.Name).ToList();
        Assert.Equal(["Class", "_0WeirdName", "InputIds", "InputIds_2", "Dispose_2", "Input", "SetClass"], names);
        var outputs = outcome.OutputCompilation.GetTypeByMetadataName("Demo.event.class._7Up+Outputs")!;
        var outputNames = outputs.GetMembers().Where(m => m.DeclaredAccessibility == Accessibility.Public && m is IPropertySymbol).Select(m => m.Name).ToList();
        Assert.Contains("ClassData_2", outputNames);
        Assert.Contains("ToString_2", outputNames);
        Assert.Contains("_7up", outputNames);
    }

    [Fact]
    public void A_keyword_class_name_is_escaped()
    {
        var manifest = new TestManifest("/project/obj/c.manifest.json", Fixtures.Classifier, ClassName: "class", Namespace: "Demo");

        var outcome = GeneratorHarness.Run([manifest]);

        Assert.Equal(["Demo.class.g.cs"], outcome.Sources.Keys);
        Assert.Contains("public sealed partial class @class", outcome.Sources["Demo.class.g.cs"], StringComparison.Ordinal);
        // CS8981 (lower-case type name) is the consumer's choice; everything else must be clean.
        Assert.All(outcome.CompilationProblems, d => Assert.Equal("CS8981", d.Id));
    }
}

using Microsoft.CodeAnalysis;
using ModelCompiler.Generator.Tests.Infrastructure;

namespace ModelCompiler.Generator.Tests;

/// <summary>Bad input gives an MC4xxx diagnostic that names the manifest, never an exception or broken code.</summary>
public sealed class DiagnosticTests
{
    private const string ManifestPath = "/project/obj/modelc/stories260K.manifest.json";

    private static Diagnostic Single(GeneratorOutcome outcome, string id)
    {
        var diagnostic = Assert.Single(outcome.GeneratorDiagnostics);
        Assert.Equal(id, diagnostic.Id);
        return diagnostic;
    }

    [Fact]
    public void Malformed_json_reports_MC4001_with_line_and_column()
    {
        string text = "{\n  \"format\": \"modelcompiler-manifest\",\n  \"format_version\": 1,,\n}\n";

        var outcome = GeneratorHarness.Run([Fixtures.StoryManifest(text)]);

        var diagnostic = Single(outcome, "MC4001");
        Assert.Equal(DiagnosticSeverity.Error, diagnostic.Severity);
        Assert.Empty(outcome.Sources);
        var span = diagnostic.Location.GetLineSpan();
        Assert.Equal(ManifestPath, span.Path);
        Assert.Equal(2, span.StartLinePosition.Line);
        Assert.Equal(22, span.StartLinePosition.Character);
        string message = diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains("stories260K.manifest.json", message, StringComparison.Ordinal);
        Assert.Contains("Invalid JSON at line 3, column 23: Unexpected ','", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("{")]
    [InlineData("{\"format\": \"modelcompiler-manifest\"")]
    [InlineData("{\"format\": 'single'}")]
    [InlineData("{\"format\": \"unterminated}")]
    [InlineData("[1, 2,]")]
    [InlineData("{} {}")]
    [InlineData("{\"a\": tru}")]
    [InlineData("{\"a\": 01}")]
    [InlineData("{\"a\": \"\\x\"}")]
    public void Invalid_json_reports_MC4001(string text)
    {
        var outcome = GeneratorHarness.Run([Fixtures.StoryManifest(text)]);

        Single(outcome, "MC4001");
        Assert.Empty(outcome.Sources);
    }

    [Fact]
    public void Unreadable_file_reports_MC4001()
    {
        var outcome = GeneratorHarness.Run([new TestManifest(ManifestPath, null)]);

        Single(outcome, "MC4001");
    }

    [Theory]
    [InlineData("\"format\": \"modelcompiler-manifest\"", "\"format\": \"something-else\"", "is not a ModelCompiler manifest")]
    [InlineData("\"format\": \"modelcompiler-manifest\",", "", "missing required field 'format'")]
    [InlineData("\"format_version\": 1", "\"format_version\": 2", "format_version 2 is not supported")]
    [InlineData("\"format_version\": 1", "\"format_version\": \"1\"", "'format_version' must be an integer")]
    [InlineData("\"file\": \"stories260K.q.onnx\",", "", "missing required field 'model.file'")]
    [InlineData("\"file\": \"stories260K.q.onnx\",", "\"file\": 7,", "'model.file' must be a string, not a number")]
    [InlineData("\"signature\": {", "\"signature_renamed\": {", "missing required field 'signature'")]
    [InlineData("\"outputs\": [", "\"outputz\": [", "missing required field 'signature.outputs'")]
    [InlineData("\"element_type\": \"int64\"", "\"element_type\": \"complex64\"", "element_type 'complex64'")]
    [InlineData("\"name\": \"attention_mask\"", "\"name\": \"input_ids\"", "appears twice")]
    [InlineData("\"batch\",\n          \"sequence_length\"\n", "\"batch\",\n          -1\n", "non-negative integer")]
    [InlineData("\"decoder\": {", "\"decoder\": [], \"x\": {", "'decoder' must be an object or null")]
    public void Missing_or_invalid_fields_report_MC4002(string find, string replace, string expected)
    {
        string text = Fixtures.Stories;
        int at = text.IndexOf(find, StringComparison.Ordinal);
        Assert.True(at >= 0, find);
        text = text[..at] + replace + text[(at + find.Length)..];

        var outcome = GeneratorHarness.Run([Fixtures.StoryManifest(text)]);

        Assert.NotEmpty(outcome.GeneratorDiagnostics);
        Assert.All(outcome.GeneratorDiagnostics, d => Assert.Equal("MC4002", d.Id));
        var messages = outcome.GeneratorDiagnostics.Select(d => d.GetMessage(System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Contains(messages, m => m.Contains(expected, StringComparison.Ordinal) && m.Contains("stories260K.manifest.json", StringComparison.Ordinal));
        Assert.All(outcome.GeneratorDiagnostics, d => Assert.Equal(ManifestPath, d.Location.GetLineSpan().Path));
        Assert.Empty(outcome.Sources);
    }

    [Fact]
    public void MC4002_points_at_the_offending_value()
    {
        string text = Fixtures.Stories.Replace("\"format_version\": 1", "\"format_version\": 3", StringComparison.Ordinal);

        var outcome = GeneratorHarness.Run([Fixtures.StoryManifest(text)]);

        var span = Single(outcome, "MC4002").Location.GetLineSpan();
        Assert.Equal(2, span.StartLinePosition.Line);
        Assert.Equal(20, span.StartLinePosition.Character);
    }

    [Fact]
    public void Missing_onnx_runtime_reports_MC4003_once_and_emits_nothing()
    {
        var outcome = GeneratorHarness.Run([Fixtures.StoryManifest(), Fixtures.ClassifierManifest()], referenceOnnxRuntime: false);

        var diagnostic = Single(outcome, "MC4003");
        Assert.Equal(DiagnosticSeverity.Error, diagnostic.Severity);
        Assert.Empty(outcome.Sources);
    }

    [Fact]
    public void No_manifest_means_no_MC4003()
    {
        var other = new TestManifest("/project/readme.json", "{}", IsManifest: null);
        var notManifest = new TestManifest("/project/x.manifest.json", "{", IsManifest: "false");

        var outcome = GeneratorHarness.Run([other, notManifest], referenceOnnxRuntime: false);

        Assert.Empty(outcome.GeneratorDiagnostics);
        Assert.Empty(outcome.Sources);
    }

    [Theory]
    [InlineData("Story-Model", null, null, "ClassName 'Story-Model' is not a valid C# identifier")]
    [InlineData("9Lives", null, null, "ClassName '9Lives' is not a valid C# identifier")]
    [InlineData("Run", null, null, "ClassName 'Run' is the name of a member")]
    [InlineData("Inputs", null, null, "ClassName 'Inputs' is the name of a member")]
    [InlineData("StoryModel", "Demo..App", null, "Namespace 'Demo..App' is not a valid C# namespace")]
    [InlineData("StoryModel", "global::Demo", null, "Namespace 'global::Demo' is not a valid C# namespace")]
    [InlineData("StoryModel", null, "protected", "Access 'protected' is not supported")]
    public void Invalid_metadata_reports_MC4004(string className, string? ns, string? access, string expected)
    {
        var manifest = Fixtures.StoryManifest() with { ClassName = className, Namespace = ns ?? "Demo", Access = access ?? "public" };

        var outcome = GeneratorHarness.Run([manifest]);

        var diagnostic = Single(outcome, "MC4004");
        Assert.Contains(expected, diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        Assert.Equal(ManifestPath, diagnostic.Location.GetLineSpan().Path);
        Assert.Empty(outcome.Sources);
    }

    [Fact]
    public void Invalid_root_namespace_reports_MC4004()
    {
        var manifest = new TestManifest(ManifestPath, Fixtures.Stories);

        var outcome = GeneratorHarness.Run([manifest], rootNamespace: "My-App");

        var diagnostic = Single(outcome, "MC4004");
        Assert.Contains("RootNamespace", diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
    }

    [Fact]
    public void Access_is_case_insensitive()
    {
        var manifest = Fixtures.StoryManifest() with { Access = "Internal" };

        var outcome = GeneratorHarness.Run([manifest]);

        Assert.Empty(outcome.GeneratorDiagnostics);
        Assert.Contains("internal sealed partial class StoryModel", outcome.Sources["Demo.StoryModel.g.cs"], StringComparison.Ordinal);
    }

    [Fact]
    public void A_decoder_whose_signature_does_not_fit_reports_MC4005_and_omits_GenerateGreedy()
    {
        // Drop the last layer's past value input: greedy decoding could not feed the cache.
        string text = Fixtures.Stories.Replace("\"name\": \"past_key_values.4.value\"", "\"name\": \"extra_input\"", StringComparison.Ordinal);

        var outcome = GeneratorHarness.Run([Fixtures.StoryManifest(text)]);

        var diagnostic = Single(outcome, "MC4005");
        Assert.Equal(DiagnosticSeverity.Warning, diagnostic.DefaultSeverity);
        string message = diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains("extra_input", message, StringComparison.Ordinal);
        Assert.Contains("past_key_values.4.value", message, StringComparison.Ordinal);
        string source = outcome.Sources["Demo.StoryModel.g.cs"];
        Assert.DoesNotContain("GenerateGreedy(", source, StringComparison.Ordinal);
        Assert.Contains("public const long EosTokenId = 2;", source, StringComparison.Ordinal);
        Assert.True(outcome.CompilationProblems.IsEmpty, GeneratorHarness.Format(outcome.CompilationProblems));
    }

    [Fact]
    public void Two_manifests_for_the_same_type_report_MC4006()
    {
        var second = Fixtures.ClassifierManifest() with { ClassName = "StoryModel", Namespace = "Demo" };

        var outcome = GeneratorHarness.Run([Fixtures.StoryManifest(), second]);

        var diagnostic = Single(outcome, "MC4006");
        Assert.Contains("Demo.StoryModel", diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        Assert.Equal(second.Path, diagnostic.Location.GetLineSpan().Path);
        Assert.Equal(["Demo.StoryModel.g.cs"], outcome.Sources.Keys);
    }

    [Fact]
    public void Unknown_keys_are_ignored()
    {
        string text = Fixtures.Stories.Replace("\"format_version\": 1,", "\"format_version\": 1, \"future\": {\"nested\": [1, 2.5e-3, true, null, \"\\u00e9\"]},", StringComparison.Ordinal);

        var outcome = GeneratorHarness.Run([Fixtures.StoryManifest(text)]);

        Assert.Empty(outcome.GeneratorDiagnostics);
        Assert.Single(outcome.Sources);
    }
}

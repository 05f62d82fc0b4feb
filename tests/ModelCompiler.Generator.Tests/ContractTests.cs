using Microsoft.CodeAnalysis;
using ModelCompiler.Generator.Model;
using ModelCompiler.Generator.Parsing;
using ModelCompiler.Generator.Tests.Infrastructure;

namespace ModelCompiler.Generator.Tests;

/// <summary>
/// Manifests with the decoder contract (docs/manifest.md: state list, id and logits types, GQA inputs, eos_token_ids),
/// hand-written in Fixtures/gqa_fp16.manifest.json: int32 ids, fp16 key/value cache and logits, seqlens_k and a
/// scalar total_sequence_length, two end-of-sequence ids.
/// </summary>
public sealed class ContractTests
{
    private static readonly ManifestOptions Options = new(true, "GqaModel", "Demo", "public", null, null);

    private static TestManifest Gqa(string? text = null) => new(
        "/project/obj/modelc/gqa_fp16.manifest.json",
        text ?? Fixtures.Read("gqa_fp16.manifest.json"),
        ClassName: "GqaModel",
        Namespace: "Demo",
        Access: "public",
        ModelPath: "tiny-gqa-fp16.q.onnx");

    [Fact]
    public void The_contract_gives_every_input_its_role_and_type()
    {
        var result = ManifestParser.Parse("/p/gqa_fp16.manifest.json", Fixtures.Read("gqa_fp16.manifest.json"), Options, CancellationToken.None);

        Assert.Empty(result.Diagnostics);
        var plan = Assert.IsType<GreedyPlan>(Assert.IsType<DecoderModel>(result.Model!.Decoder).Greedy);
        Assert.Equal(
            [("input_ids", GreedyInputRole.InputIds, "int32", 2), ("attention_mask", GreedyInputRole.AttentionMask, "int32", 2),
             ("past_key_values.0.key", GreedyInputRole.State, "float16", 4), ("past_key_values.0.value", GreedyInputRole.State, "float16", 4),
             ("seqlens_k", GreedyInputRole.SeqlensK, "int32", 1), ("total_sequence_length", GreedyInputRole.TotalSequenceLength, "int32", 0)],
            plan.Inputs.Select(i => (i.Name, i.Role, i.ElementType, i.Rank)));
        Assert.Equal(("present.0.value", "float16", 2), (plan.States[1].Output, plan.States[1].ElementType, plan.States[1].SequenceAxis));
        Assert.Equal([1L, 2, 0, 4], plan.States[1].InitialShape);
        Assert.Equal(("logits", "float16"), (plan.LogitsName, plan.LogitsElementType));
        Assert.Equal([2L, 31], plan.EosTokenIds);
    }

    [Fact]
    public void The_generated_wrapper_matches_its_baseline_and_compiles()
    {
        var outcome = GeneratorHarness.Run([Gqa()]);

        Assert.Empty(outcome.GeneratorDiagnostics);
        Assert.True(outcome.CompilationProblems.IsEmpty, GeneratorHarness.Format(outcome.CompilationProblems));
        Baselines.AssertMatches("Demo.GqaModel.g.cs", outcome.Sources["Demo.GqaModel.g.cs"]);
    }

    [Fact]
    public void An_input_outside_the_contract_omits_generation_with_MC4005()
    {
        string text = Fixtures.Read("gqa_fp16.manifest.json").Replace("\"kind\": \"seqlens_k\"", "\"kind\": \"unknown\"", StringComparison.Ordinal);
        var outcome = GeneratorHarness.Run([Gqa(text)]);

        var warning = Assert.Single(outcome.GeneratorDiagnostics);
        Assert.Equal("MC4005", warning.Id);
        Assert.Contains("seqlens_k", warning.GetMessage(), StringComparison.Ordinal);
        Assert.DoesNotContain("GenerateGreedy(", outcome.Sources["Demo.GqaModel.g.cs"], StringComparison.Ordinal);
    }

    [Fact]
    public void Without_the_runtime_library_generation_is_omitted_with_MC4007()
    {
        var compilation = GeneratorHarness.CreateCompilation([], referenceRuntime: false);
        var outcome = GeneratorHarness.Run(GeneratorHarness.CreateDriver([Fixtures.StoryManifest()]), compilation);

        var warning = Assert.Single(outcome.GeneratorDiagnostics);
        Assert.Equal("MC4007", warning.Id);
        Assert.Equal(DiagnosticSeverity.Warning, warning.DefaultSeverity);
        Assert.True(outcome.CompilationProblems.IsEmpty, GeneratorHarness.Format(outcome.CompilationProblems));
        Assert.DoesNotContain("GenerateAsync", outcome.Sources["Demo.StoryModel.g.cs"], StringComparison.Ordinal);
        Assert.Contains("public Outputs Run(", outcome.Sources["Demo.StoryModel.g.cs"], StringComparison.Ordinal);
    }
}

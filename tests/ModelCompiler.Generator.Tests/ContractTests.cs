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

    /// <summary>The fixture as a merged decoder (Optimum's decoder_model_merged.onnx) would have it: a bool use_cache_branch [1] besides.</summary>
    private static string Merged()
    {
        var manifest = System.Text.Json.Nodes.JsonNode.Parse(Fixtures.Read("gqa_fp16.manifest.json"))!;
        manifest["signature"]!["inputs"]!.AsArray().Add(new System.Text.Json.Nodes.JsonObject
        {
            ["name"] = "use_cache_branch", ["element_type"] = "bool", ["shape"] = new System.Text.Json.Nodes.JsonArray(1),
        });
        manifest["decoder"]!["extra_inputs"]!.AsArray().Add(new System.Text.Json.Nodes.JsonObject
        {
            ["name"] = "use_cache_branch", ["kind"] = "use_cache_branch", ["type"] = "bool",
        });
        return manifest.ToJsonString();
    }

    [Fact]
    public void A_merged_decoders_use_cache_branch_is_fed_by_generation()
    {
        var text = Merged();
        var result = ManifestParser.Parse("/p/gqa_fp16.manifest.json", text, Options, CancellationToken.None);

        Assert.Empty(result.Diagnostics);
        var plan = Assert.IsType<GreedyPlan>(Assert.IsType<DecoderModel>(result.Model!.Decoder).Greedy);
        Assert.Equal(("use_cache_branch", GreedyInputRole.UseCacheBranch, "bool", 1), plan.Inputs.Select(i => (i.Name, i.Role, i.ElementType, i.Rank)).Last());

        var outcome = GeneratorHarness.Run([Gqa(text)]);
        Assert.Empty(outcome.GeneratorDiagnostics);
        Assert.True(outcome.CompilationProblems.IsEmpty, GeneratorHarness.Format(outcome.CompilationProblems));
        Assert.Contains("DecoderInputKind.UseCacheBranch, global::Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Bool, 1)", outcome.Sources["Demo.GqaModel.g.cs"], StringComparison.Ordinal);
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

/// <summary>
/// The wrapper of the real fp16 GenAI-builder LLaMA (../shared/models/thirdparty/genai-tiny-random-llama-fp16), from a
/// hand-written contract manifest for its graph: GenerateGreedy from genai_config.json's BOS id carries an fp16 cache,
/// and its ids equal an argmax chain recomputed from the whole prefix without a cache each step.
/// </summary>
public sealed class Fp16DecoderTests
{
    private const string Driver = """
        using System.Collections.Generic;
        using Microsoft.ML.OnnxRuntime;
        using ModelCompiler.Runtime;

        namespace Demo.App
        {
            internal static class LlamaDriver
            {
                public static long[] Generate(string modelPath, int n)
                {
                    using var model = new LlamaFp16(modelPath);
                    return model.GenerateGreedy(new long[] { LlamaFp16.BosTokenId }, n);
                }

                public static long[] Recompute(string modelPath, int n)
                {
                    using var model = new LlamaFp16(modelPath);
                    using var runOptions = new RunOptions();
                    var sequence = new List<long> { LlamaFp16.BosTokenId };
                    for (int i = 0; i < n; i++)
                    {
                        using var cache = new KeyValueCache(LlamaFp16.DecoderContract);
                        long next = TokenSampler.ArgMax(model.Generator.Step(sequence.ToArray(), cache, runOptions));
                        if (next == LlamaFp16.EosTokenId)
                        {
                            break;
                        }

                        sequence.Add(next);
                    }

                    return sequence.GetRange(1, sequence.Count - 1).ToArray();
                }

                public static string CacheAfterPrompt(string modelPath)
                {
                    using var model = new LlamaFp16(modelPath);
                    using var runOptions = new RunOptions();
                    using var cache = new KeyValueCache(LlamaFp16.DecoderContract);
                    model.Generator.Step(new long[] { LlamaFp16.BosTokenId, 5, 9 }, cache, runOptions);
                    var info = cache[0].GetTensorTypeAndShape();
                    return info.ElementDataType + " " + string.Join(",", info.Shape) + " " + cache.Count + " " + cache.PastLength;
                }
            }
        }
        """;

    private const string TextDriver = """
        using System.Collections.Generic;

        namespace Demo.App
        {
            internal static class LlamaTextDriver
            {
                public static long[] GenerateAfter(string modelPath, string prompt, int n)
                {
                    using var model = new LlamaFp16(modelPath);
                    var tokens = new List<long> { LlamaFp16.BosTokenId };
                    tokens.AddRange(model.Encode(prompt));
                    return model.GenerateGreedy(tokens.ToArray(), n);
                }

                public static string[] Text(string modelPath, string prompt, int n)
                    => TextAsync(modelPath, prompt, n).GetAwaiter().GetResult();

                private static async System.Threading.Tasks.Task<string[]> TextAsync(string modelPath, string prompt, int n)
                {
                    using var model = new LlamaFp16(modelPath);
                    var pieces = new List<string>();
                    await foreach (var piece in model.GenerateAsync(prompt, n))
                    {
                        pieces.Add(piece);
                    }

                    return pieces.ToArray();
                }
            }
        }
        """;

    /// <summary>The wrapper LlamaFp16 generated from <paramref name="manifestText"/>, compiled with <paramref name="driverSource"/>; the driver type.</summary>
    private static Type Wrapper(string manifestText, string driverSource, string driverType)
    {
        var manifest = new TestManifest("/project/obj/modelc/genai_llama_fp16.manifest.json", manifestText,
            ClassName: "LlamaFp16", Namespace: "Demo", Access: "public", ModelPath: "model.onnx");
        var outcome = GeneratorHarness.Run([manifest], [driverSource]);
        Assert.Empty(outcome.GeneratorDiagnostics);
        Assert.True(outcome.CompilationProblems.IsEmpty, GeneratorHarness.Format(outcome.CompilationProblems));
        return GeneratorHarness.EmitAndLoad(outcome.OutputCompilation).GetType(driverType, throwOnError: true)!;
    }

    [Fact]
    public void GenerateGreedy_runs_the_fp16_graph_from_the_configured_bos_with_an_fp16_cache()
    {
        string dir = Path.Combine(ModelCompiler.Tests.TestPaths.Shared, "models", "thirdparty", "genai-tiny-random-llama-fp16");
        string config = File.ReadAllText(Path.Combine(dir, "genai_config.json"));
        Assert.Contains("\"bos_token_id\": 0", config, StringComparison.Ordinal);
        var driver = Wrapper(Fixtures.Read("genai_llama_fp16.manifest.json"), Driver, "Demo.App.LlamaDriver");
        string model = Path.Combine(dir, "model.onnx");

        var generated = (long[])driver.GetMethod("Generate")!.Invoke(null, [model, 8])!;
        var recomputed = (long[])driver.GetMethod("Recompute")!.Invoke(null, [model, 8])!;
        string cache = (string)driver.GetMethod("CacheAfterPrompt")!.Invoke(null, [model])!;

        Assert.NotEmpty(generated);
        Assert.All(generated, id => Assert.InRange(id, 0, 31999));
        Assert.Equal(recomputed, generated);
        Assert.Equal("Float16 1,1,3,16 4 3", cache);
    }

    [Fact]
    public void GenerateAsync_text_streams_the_fp16_graphs_tokens_through_its_tokenizer_json()
    {
        string dir = Path.Combine(ModelCompiler.Tests.TestPaths.Shared, "models", "thirdparty", "genai-tiny-random-llama-fp16");
        string text = Fixtures.Read("genai_llama_fp16.manifest.json").Replace("\"tokenizer\": null", "\"tokenizer\": \"tokenizer.json\"", StringComparison.Ordinal);
        var driver = Wrapper(text, TextDriver, "Demo.App.LlamaTextDriver");
        string model = Path.Combine(dir, "model.onnx");
        const string prompt = "Once upon a time";

        var ids = (long[])driver.GetMethod("GenerateAfter")!.Invoke(null, [model, prompt, 24])!;
        var pieces = (string[])driver.GetMethod("Text")!.Invoke(null, [model, prompt, 24])!;

        // Random weights: the ids are arbitrary vocabulary entries (byte pieces among them); the streamed text must be
        // exactly what decoding prompt + ids gives after the prompt's own text, in non-empty whole-character pieces.
        var tokenizer = ModelCompiler.Tokenization.TokenizerLoader.Load(Path.Combine(dir, "tokenizer.json"));
        int[] promptIds = [.. tokenizer.Encode(prompt)];
        int[] whole = [.. promptIds, .. ids.Select(i => (int)i)];
        string expected = tokenizer.Decode(whole)[tokenizer.Decode(promptIds).Length..];
        Assert.NotEmpty(ids);
        Assert.All(pieces, p => Assert.False(string.IsNullOrEmpty(p)));
        Assert.All(pieces, p => Assert.False(char.IsHighSurrogate(p[^1]), "a piece ends inside a surrogate pair"));
        Assert.Equal(expected, string.Concat(pieces));
    }
}

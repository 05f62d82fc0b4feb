using ModelCompiler.Spec;
using static ModelCompiler.Tests.Spec.SpecAssert;

namespace ModelCompiler.Tests.Spec;

public class SpecLoaderTests
{
    private const string FullSpec = """
        target: cuda
        calibration:
          generated: { tokens: 3000, seed: 7 }
          context: 128
          max_tokens: 4096
        evaluation:
          generated:
            tokens: 2000
            seed: 9
          context: 64
          max_tokens: 2048
        policy:
          kind: manual
          include: ["model.layers.*", "lm_head"]
          exclude: ["*.down_proj"]
        fallback: fp32
        validation:
          providers: [cpu, cuda]
          require: [cpu]
        gates:
          max_perplexity_increase_pct: 1.5
          max_perplexity: 10
          min_int8_fraction: 0.25
        """;

    [Fact]
    public void Reads_every_value_of_a_full_spec_with_its_position()
    {
        var result = Parse(FullSpec);
        var spec = result.Spec;

        Assert.Empty(result.Warnings);
        Assert.Equal(FileName, spec.SpecPath);
        Assert.Equal(CompileTarget.Cuda, spec.Target.Value);
        At(spec.Target.Location, 1, 9);
        Assert.False(spec.Target.IsDefault);

        var calibration = Assert.IsType<GeneratedSourceSpec>(spec.Calibration.Source);
        Assert.Equal((3000, 7), (calibration.Tokens.Value, calibration.Seed.Value));
        At(calibration.Tokens.Location, 3, 24);
        At(calibration.Seed.Location, 3, 36);
        Assert.Equal(128, spec.Calibration.Context.Value);
        At(spec.Calibration.Context.Location, 4, 12);
        Assert.Equal(4096, spec.Calibration.MaxTokens.Value);
        At(spec.Calibration.Location, 2, 1);
        Assert.Null(spec.Calibration.Tokenizer);

        var evaluation = Assert.IsType<GeneratedSourceSpec>(spec.Evaluation.Source);
        Assert.Equal((2000, 9), (evaluation.Tokens.Value, evaluation.Seed.Value));
        At(evaluation.Seed.Location, 9, 11);
        Assert.Equal((64, 2048), (spec.Evaluation.Context.Value, spec.Evaluation.MaxTokens.Value));

        var policy = Assert.IsType<ManualPolicySpec>(spec.Policy);
        Assert.Equal("manual", policy.Kind);
        At(policy.Location, 13, 9);
        Assert.Equal(["model.layers.*", "lm_head"], policy.Include.Select(p => p.Value));
        At(policy.Include[1].Location, 14, 31);
        Assert.Equal(["*.down_proj"], policy.Exclude.Select(p => p.Value));
        Assert.True(policy.Selects("model.layers.0.self_attn.q_proj"));
        Assert.True(policy.Selects("lm_head"));
        Assert.False(policy.Selects("model.layers.0.mlp.down_proj"));
        Assert.False(policy.Selects("model.embed_tokens"));
        Assert.Equal("*.down_proj", policy.FindExclusion("model.layers.1.mlp.down_proj")?.Value);

        Assert.Equal(FallbackPrecision.Fp32, spec.Fallback.Value);
        Assert.Equal([ExecutionProviderKind.Cpu, ExecutionProviderKind.Cuda], spec.Validation.Providers.Select(p => p.Value));
        At(spec.Validation.Providers[1].Location, 18, 20);
        Assert.Equal([ExecutionProviderKind.Cpu], spec.Validation.Require.Select(p => p.Value));
        Assert.True(spec.Validation.IsRequired(ExecutionProviderKind.Cpu));
        Assert.False(spec.Validation.IsRequired(ExecutionProviderKind.Cuda));

        Assert.Equal(1.5, spec.Gates.MaxPerplexityIncreasePct?.Value);
        At(spec.Gates.MaxPerplexityIncreasePct!.Location, 21, 32);
        Assert.Equal(10.0, spec.Gates.MaxPerplexity?.Value);
        At(spec.Gates.MaxPerplexity!.Location, 22, 19);
        Assert.Equal(0.25, spec.Gates.MinInt8Fraction?.Value);
        At(spec.Gates.Location, 20, 1);
        Assert.True(spec.Gates.Any);
    }

    [Fact]
    public void A_gate_location_makes_a_clickable_error()
    {
        var gate = Parse(FullSpec).Spec.Gates.MaxPerplexity!;
        var error = gate.Location.Error("MC2001", $"perplexity 12.3 is above max_perplexity {gate}");
        Assert.Equal("spec.yaml(22,19): error MC2001: perplexity 12.3 is above max_perplexity 10", error.ToDiagnosticString());
    }

    [Fact]
    public void Cpu_target_defaults()
    {
        var spec = Parse(GeneratedCalibration).Spec;

        Assert.Equal(CompileTarget.Cpu, spec.Target.Value);
        Assert.True(spec.Target.IsDefault);
        Assert.False(spec.Target.Location.HasPosition);
        Assert.Equal(FallbackPrecision.Fp32, spec.Fallback.Value);
        Assert.True(spec.Fallback.IsDefault);
        Assert.Equal([ExecutionProviderKind.Cpu], spec.Validation.Providers.Select(p => p.Value));
        Assert.Equal([ExecutionProviderKind.Cpu], spec.Validation.Require.Select(p => p.Value));
        Assert.All(spec.Validation.Providers, p => Assert.True(p.IsDefault));

        Assert.Equal(256, spec.Calibration.Context.Value);
        Assert.True(spec.Calibration.Context.IsDefault);
        Assert.Equal(8192, spec.Calibration.MaxTokens.Value);
        var calibration = Assert.IsType<GeneratedSourceSpec>(spec.Calibration.Source);
        Assert.Equal((4096, 1), (calibration.Tokens.Value, calibration.Seed.Value));

        var policy = Assert.IsType<AllInt8PolicySpec>(spec.Policy);
        Assert.Empty(policy.Exclude);
        Assert.False(policy.IsExcluded("lm_head"));

        Assert.False(spec.Gates.Any);
        Assert.Null(spec.Gates.MaxPerplexity);
    }

    [Fact]
    public void Cuda_target_defaults()
    {
        var spec = Parse("target: cuda\n" + GeneratedCalibration).Spec;

        Assert.Equal(FallbackPrecision.Fp16, spec.Fallback.Value);
        At(spec.Fallback.Location, 1, 9); // a default points at what chose it
        Assert.Equal([ExecutionProviderKind.Cuda, ExecutionProviderKind.Cpu], spec.Validation.Providers.Select(p => p.Value));
        Assert.Empty(spec.Validation.Require);
    }

    [Fact]
    public void Missing_evaluation_means_generated_tokens_with_another_seed_and_calibration_settings()
    {
        var spec = Parse("""
            calibration:
              generated: { seed: 41 }
              context: 64
              max_tokens: 1000
            """).Spec;

        var evaluation = Assert.IsType<GeneratedSourceSpec>(spec.Evaluation.Source);
        Assert.Equal(42, evaluation.Seed.Value);
        Assert.Equal(4096, evaluation.Tokens.Value);
        Assert.Equal(64, spec.Evaluation.Context.Value);
        Assert.True(spec.Evaluation.Context.IsDefault);
        At(spec.Evaluation.Context.Location, 3, 12);
        Assert.Equal(1000, spec.Evaluation.MaxTokens.Value);
    }

    [Fact]
    public void Missing_evaluation_after_text_calibration_uses_seed_2()
    {
        var spec = Parse("calibration: { text: calib.txt }\n").Spec;
        var evaluation = Assert.IsType<GeneratedSourceSpec>(spec.Evaluation.Source);
        Assert.Equal(2, evaluation.Seed.Value);
    }

    [Fact]
    public void Evaluation_inherits_unset_context_max_tokens_and_tokenizer_from_calibration()
    {
        var spec = Parse("""
            calibration:
              text: calib.txt
              tokenizer: tok512.bin
              context: 128
            evaluation:
              text: eval.txt
              max_tokens: 500
            """).Spec;

        Assert.Equal(128, spec.Evaluation.Context.Value);
        Assert.Equal(500, spec.Evaluation.MaxTokens.Value);
        Assert.Equal(spec.Calibration.Tokenizer, spec.Evaluation.Tokenizer);
    }

    [Fact]
    public void Relative_paths_resolve_against_the_base_directory()
    {
        var baseDir = Path.Combine(Path.GetTempPath(), "somewhere", "models");
        var spec = Parse("""
            calibration:
              text: data/calib.txt
              tokenizer: ../tok512.bin
            evaluation:
              text: data\eval.txt
            """, baseDir).Spec;

        var text = Assert.IsType<TextSourceSpec>(spec.Calibration.Source).Text;
        Assert.Equal(Path.Combine(baseDir, "data", "calib.txt"), text.FullPath);
        Assert.Equal("data/calib.txt", text.AsWritten);
        At(text.Location, 2, 9);
        Assert.Equal(Path.Combine(Path.GetTempPath(), "somewhere", "tok512.bin"), spec.Calibration.Tokenizer!.FullPath);
        Assert.Equal(Path.Combine(baseDir, "data", "eval.txt"), Assert.IsType<TextSourceSpec>(spec.Evaluation.Source).Text.FullPath);
        Assert.Equal(Path.GetFullPath(baseDir), spec.BaseDirectory);
    }

    [Fact]
    public void Absolute_paths_stay_as_they_are()
    {
        var absolute = Path.Combine(Path.GetTempPath(), "corpus.txt");
        var spec = Parse($"calibration: {{ text: '{absolute}' }}\n").Spec;
        Assert.Equal(absolute, Assert.IsType<TextSourceSpec>(spec.Calibration.Source).Text.FullPath);
    }

    [Fact]
    public void Generated_alone_means_generated_with_defaults()
    {
        var spec = Parse("calibration:\n  generated:\n").Spec;
        var generated = Assert.IsType<GeneratedSourceSpec>(spec.Calibration.Source);
        Assert.Equal((4096, 1), (generated.Tokens.Value, generated.Seed.Value));
        At(generated.Location, 2, 3);
    }

    [Fact]
    public void Null_values_count_as_absent()
    {
        var spec = Parse("""
            target: ~
            calibration:
              generated: {}
              context:
            evaluation: null
            policy:
              exclude:
            gates:
              max_perplexity: ~
            """).Spec;

        Assert.True(spec.Target.IsDefault);
        Assert.Equal(256, spec.Calibration.Context.Value);
        Assert.IsType<GeneratedSourceSpec>(spec.Evaluation.Source);
        Assert.Empty(spec.Policy.Exclude);
        Assert.Null(spec.Gates.MaxPerplexity);
    }

    [Fact]
    public void Names_of_values_match_case_insensitively_and_numbers_may_be_quoted()
    {
        var spec = Parse("""
            target: CUDA
            calibration: { generated: {}, context: "128" }
            policy: { kind: None }
            fallback: FP16
            validation: { providers: [Cpu] }
            """).Spec;

        Assert.Equal(CompileTarget.Cuda, spec.Target.Value);
        Assert.Equal(128, spec.Calibration.Context.Value);
        Assert.IsType<NoInt8PolicySpec>(spec.Policy);
        Assert.Equal(FallbackPrecision.Fp16, spec.Fallback.Value);
        Assert.Equal(ExecutionProviderKind.Cpu, Assert.Single(spec.Validation.Providers).Value);
    }

    [Fact]
    public void Require_defaults_to_the_target_list_restricted_to_the_listed_providers()
    {
        var spec = Parse(GeneratedCalibration + "validation: { providers: [cuda] }\n").Spec;
        Assert.Equal(ExecutionProviderKind.Cuda, Assert.Single(spec.Validation.Providers).Value);
        Assert.Empty(spec.Validation.Require);

        spec = Parse(GeneratedCalibration + "validation: { providers: [cuda, cpu] }\n").Spec;
        Assert.Equal(ExecutionProviderKind.Cpu, Assert.Single(spec.Validation.Require).Value);

        spec = Parse(GeneratedCalibration + "validation: { require: [] }\n").Spec;
        Assert.Empty(spec.Validation.Require);
    }

    [Fact]
    public void Manual_policy_includes_everything_by_default()
    {
        var policy = Assert.IsType<ManualPolicySpec>(Parse(GeneratedCalibration + "policy: { kind: manual, exclude: [lm_head] }\n").Spec.Policy);
        Assert.Equal("*", Assert.Single(policy.Include).Value);
        Assert.True(policy.Include[0].IsDefault);
        Assert.True(policy.Selects("model.layers.0.mlp.up_proj"));
        Assert.False(policy.Selects("lm_head"));
    }

    [Fact]
    public void Exclude_applies_to_every_kind()
    {
        var policy = Parse(GeneratedCalibration + "policy:\n  exclude: [lm_head, '*.down_proj']\n").Spec.Policy;
        Assert.IsType<AllInt8PolicySpec>(policy);
        Assert.True(policy.IsExcluded("lm_head"));
        Assert.True(policy.IsExcluded("model.layers.3.mlp.down_proj"));
        Assert.False(policy.IsExcluded("model.layers.3.mlp.up_proj"));
        At(policy.Exclude[1].Location, 3, 22);
    }

    [Fact]
    public void Anchors_and_aliases_are_followed()
    {
        var spec = Parse("""
            calibration: &data
              generated: { seed: 5 }
              context: 32
            evaluation:
              generated: { seed: 6 }
              context: 32
            policy:
              exclude: &never [lm_head]
              kind: manual
              include: *never
            """).Spec;

        Assert.Equal("lm_head", Assert.Single(Assert.IsType<ManualPolicySpec>(spec.Policy).Include).Value);
    }

    [Fact]
    public void Empty_gates_check_nothing_and_zero_limits_are_allowed()
    {
        Assert.False(Parse(GeneratedCalibration + "gates: {}\n").Spec.Gates.Any);
        var gates = Parse(GeneratedCalibration + "gates: { max_perplexity_increase_pct: 0, min_int8_fraction: 1, max_perplexity: 1 }\n").Spec.Gates;
        Assert.Equal((0.0, 1.0, 1.0), (gates.MaxPerplexityIncreasePct!.Value, gates.MinInt8Fraction!.Value, gates.MaxPerplexity!.Value));
    }
}

using ModelCompiler.Spec;
using static ModelCompiler.Tests.Spec.SpecAssert;

namespace ModelCompiler.Tests.Spec;

public class SpecWriterTests
{
    private static readonly string BaseDir = Path.Combine(Path.GetTempPath(), "mc-spec-writer");

    private const string FullSpec = """
        target: cuda
        calibration:
          text: data/calib.txt
          tokenizer: tok512.bin
          context: 128
          max_tokens: 4096
          method: percentile
          percentile: 99.9
        evaluation:
          generated: { tokens: 2000, seed: 9 }
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
    public void Round_trips_a_full_spec()
    {
        var first = Parse(FullSpec, BaseDir).Spec;
        var yaml = SpecWriter.ToYaml(first);
        var second = Parse(yaml, Path.Combine(BaseDir, "elsewhere")).Spec;

        Assert.Equal(yaml, SpecWriter.ToYaml(second));
        Assert.Equal(first.Target.Value, second.Target.Value);
        Assert.Equal(
            Assert.IsType<TextSourceSpec>(first.Calibration.Source).Text.FullPath,
            Assert.IsType<TextSourceSpec>(second.Calibration.Source).Text.FullPath);
        Assert.Equal(first.Calibration.Tokenizer!.FullPath, second.Calibration.Tokenizer!.FullPath);
        Assert.Equal(first.Calibration.Context.Value, second.Calibration.Context.Value);
        Assert.Equal(first.CalibrationMethod.Method.Value, second.CalibrationMethod.Method.Value);
        Assert.Equal(99.9, second.CalibrationMethod.Percentile.Value);
        var generated = Assert.IsType<GeneratedSourceSpec>(second.Evaluation.Source);
        Assert.Equal((2000, 9), (generated.Tokens.Value, generated.Seed.Value));
        Assert.Equal(
            Assert.IsType<ManualPolicySpec>(first.Policy).Include.Select(p => p.Value),
            Assert.IsType<ManualPolicySpec>(second.Policy).Include.Select(p => p.Value));
        Assert.Equal(first.Policy.Exclude.Select(p => p.Value), second.Policy.Exclude.Select(p => p.Value));
        Assert.Equal(first.Fallback.Value, second.Fallback.Value);
        Assert.Equal(first.Validation.Providers.Select(p => p.Value), second.Validation.Providers.Select(p => p.Value));
        Assert.Equal(first.Validation.Require.Select(p => p.Value), second.Validation.Require.Select(p => p.Value));
        Assert.Equal(first.Gates.MaxPerplexityIncreasePct!.Value, second.Gates.MaxPerplexityIncreasePct!.Value);
        Assert.Equal(first.Gates.MaxPerplexity!.Value, second.Gates.MaxPerplexity!.Value);
        Assert.Equal(first.Gates.MinInt8Fraction!.Value, second.Gates.MinInt8Fraction!.Value);
    }

    [Fact]
    public void Writes_every_default_explicitly()
    {
        var yaml = SpecWriter.ToYaml(Parse(GeneratedCalibration).Spec);

        Assert.Equal("""
            target: cpu
            calibration:
              generated:
                tokens: 4096
                seed: 1
              context: 256
              max_tokens: 8192
              method: minmax
            evaluation:
              generated:
                tokens: 4096
                seed: 2
              context: 256
              max_tokens: 8192
            policy:
              kind: all-int8
              exclude: []
            fallback: fp32
            validation:
              providers: [cpu]
              require: [cpu]

            """.ReplaceLineEndings("\n"), yaml);
    }

    [Fact]
    public void Numbers_are_written_in_invariant_culture()
    {
        var previous = System.Globalization.CultureInfo.CurrentCulture;
        try
        {
            System.Globalization.CultureInfo.CurrentCulture = new System.Globalization.CultureInfo("de-DE");
            var yaml = SpecWriter.ToYaml(Parse(GeneratedCalibration + "gates: { max_perplexity_increase_pct: 0.5 }\n").Spec);
            Assert.Contains("max_perplexity_increase_pct: 0.5", yaml);
        }
        finally
        {
            System.Globalization.CultureInfo.CurrentCulture = previous;
        }
    }
}

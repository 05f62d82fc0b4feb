using ModelCompiler.Spec;
using static ModelCompiler.Tests.Spec.SpecAssert;

namespace ModelCompiler.Tests.Spec;

/// <summary>Every error names the code, the line and column of the offending key or value, and what to do.</summary>
public class SpecErrorTests
{
    private const string Cal = GeneratedCalibration;

    public static TheoryData<string, string, int, int, string> Errors => new()
    {
        // YAML itself
        { "target: cpu\ncalibration: [a, b\n", SpecCodes.YamlSyntax, 3, 1, "YAML syntax error" },
        { "target: cpu\n  calibration: x\n", SpecCodes.YamlSyntax, 2, 14, "YAML syntax error" },
        { "target: \"cpu\n", SpecCodes.YamlSyntax, 1, 9, "YAML syntax error" },
        { "calibration: *nowhere\n", SpecCodes.YamlSyntax, 1, 14, "alias '*nowhere'" },
        { "", SpecCodes.EmptySpec, 1, 1, "the spec is empty" },
        { "# only a comment\n", SpecCodes.EmptySpec, 1, 1, "the spec is empty" },
        { "---\n", SpecCodes.EmptySpec, 1, 1, "the spec is empty" },
        { Cal + "---\n" + Cal, SpecCodes.MultipleDocuments, 2, 1, "more than one YAML document" },
        { "- target\n- cpu\n", SpecCodes.TopLevelNotMapping, 1, 1, "must be a mapping" },
        { "just text\n", SpecCodes.TopLevelNotMapping, 1, 1, "must be a mapping" },
        { "? [a, b]\n: c\n", SpecCodes.WrongType, 1, 3, "a key must be a plain name" },

        // keys
        { Cal + "polcy: {}\n", SpecCodes.UnknownKey, 2, 1, "unknown key 'polcy' at the top level; did you mean 'policy'?" },
        { Cal + "Target: cpu\n", SpecCodes.UnknownKey, 2, 1, "did you mean 'target'?" },
        { "calibration:\n  generated: {}\n  contxet: 5\n", SpecCodes.UnknownKey, 3, 3, "unknown key 'contxet' in 'calibration'; did you mean 'context'?" },
        { "calibration:\n  generated: { token: 5 }\n", SpecCodes.UnknownKey, 2, 16, "did you mean 'tokens'?" },
        { Cal + "gates:\n  max_perplexity_increase: 1\n", SpecCodes.UnknownKey, 3, 3, "unknown key 'max_perplexity_increase' in 'gates'; did you mean 'max_perplexity_increase_pct'?" },
        { Cal + "context: 256\n", SpecCodes.UnknownKey, 2, 1, "it belongs under 'calibration' or 'evaluation'" },
        { Cal + "policy:\n  kind: none\n  gates: {}\n", SpecCodes.UnknownKey, 4, 3, "it is a top-level key: check its indentation" },
        { Cal + "quantum: 3\n", SpecCodes.UnknownKey, 2, 1, "unknown key 'quantum' at the top level; valid keys here: target, calibration, evaluation, policy, fallback, validation, gates" },
        { Cal + "target: cpu\ntarget: cuda\n", SpecCodes.DuplicateKey, 3, 1, "'target' is given twice (first at line 2)" },
        { "calibration:\n  generated: {}\n  context: 5\n  context: 6\n", SpecCodes.DuplicateKey, 4, 3, "'calibration.context' is given twice" },

        // types
        { "calibration:\n  generated: {}\n  context: abc\n", SpecCodes.WrongType, 3, 12, "'calibration.context' must be a whole number, not the value 'abc'" },
        { "calibration:\n  generated: {}\n  context: 2.5\n", SpecCodes.WrongType, 3, 12, "must be a whole number" },
        { "calibration:\n  generated: {}\n  max_tokens: [1]\n", SpecCodes.WrongType, 3, 15, "must be a whole number, not a list" },
        { Cal + "validation:\n  providers: cpu\n", SpecCodes.WrongType, 3, 14, "'validation.providers' must be a list, e.g. [cpu]" },
        { Cal + "validation:\n  providers: [[cpu]]\n", SpecCodes.WrongType, 3, 15, "must be a provider name" },
        { Cal + "policy:\n  exclude: lm_head\n", SpecCodes.WrongType, 3, 12, "'policy.exclude' must be a list" },
        { Cal + "policy:\n  exclude: [{a: b}]\n", SpecCodes.WrongType, 3, 13, "must be a layer-name glob" },
        { "calibration: 5\n", SpecCodes.WrongType, 1, 14, "'calibration' must be a mapping of keys" },
        { "calibration:\n  generated: 4096\n", SpecCodes.WrongType, 2, 14, "'calibration.generated' must be a mapping" },
        { "calibration:\n  text: [a.txt]\n", SpecCodes.WrongType, 2, 9, "must be a file path" },
        { "calibration:\n  text:\n", SpecCodes.WrongType, 2, 3, "'calibration.text' is empty" },
        { Cal + "gates:\n  max_perplexity: ten\n", SpecCodes.WrongType, 3, 19, "'gates.max_perplexity' must be a number" },
        { Cal + "target: [cpu]\n", SpecCodes.WrongType, 2, 9, "must be one of 'cpu' or 'cuda'" },

        // ranges
        { "calibration:\n  generated: {}\n  context: 1\n", SpecCodes.OutOfRange, 3, 12, "'calibration.context' must be at least 2" },
        { "calibration:\n  generated: {}\n  max_tokens: 0\n", SpecCodes.OutOfRange, 3, 15, "'calibration.max_tokens' must be at least 2" },
        { "calibration:\n  generated: {}\n  max_tokens: -5\n", SpecCodes.OutOfRange, 3, 15, "must be at least 2" },
        { "calibration:\n  generated: {}\n  context: 99999999999\n", SpecCodes.OutOfRange, 3, 12, "must be at most 2147483647" },
        { "calibration:\n  generated: { tokens: 1 }\n", SpecCodes.OutOfRange, 2, 24, "'calibration.generated.tokens' must be at least 2" },
        { "calibration:\n  generated: { seed: -1 }\n", SpecCodes.OutOfRange, 2, 22, "'calibration.generated.seed' must be at least 0" },
        { Cal + "evaluation:\n  generated: {}\n  context: 0\n", SpecCodes.OutOfRange, 4, 12, "'evaluation.context' must be at least 2" },
        { Cal + "gates:\n  max_perplexity_increase_pct: -1\n", SpecCodes.OutOfRange, 3, 32, "must be at least 0" },
        { Cal + "gates:\n  max_perplexity: 0.5\n", SpecCodes.OutOfRange, 3, 19, "at least 1 (perplexity is never below 1)" },
        { Cal + "gates:\n  min_int8_fraction: 1.5\n", SpecCodes.OutOfRange, 3, 22, "between 0 and 1" },
        { Cal + "gates:\n  min_int8_fraction: -0.1\n", SpecCodes.OutOfRange, 3, 22, "between 0 and 1" },
        { Cal + "gates:\n  max_perplexity: .inf\n", SpecCodes.OutOfRange, 3, 19, "must be a finite number" },
        { Cal + "gates:\n  max_perplexity: NaN\n", SpecCodes.OutOfRange, 3, 19, "must be a finite number" },
        { Cal + "validation:\n  providers: []\n", SpecCodes.OutOfRange, 3, 14, "'validation.providers' is empty" },
        { Cal + "policy:\n  exclude: ['']\n", SpecCodes.OutOfRange, 3, 13, "must be a layer-name glob" },

        // names
        { Cal + "target: tpu\n", SpecCodes.UnknownValue, 2, 9, "unknown target 'tpu': expected 'cpu' or 'cuda'" },
        { Cal + "target: cdua\n", SpecCodes.UnknownValue, 2, 9, "expected 'cpu' or 'cuda'; did you mean 'cuda'?" },
        { Cal + "fallback: int4\n", SpecCodes.UnknownValue, 2, 11, "unknown fallback 'int4': expected 'fp16' or 'fp32'" },
        { Cal + "policy:\n  kind: predictor\n", SpecCodes.UnknownValue, 3, 9, "unknown policy.kind 'predictor': expected 'all-int8', 'none', 'manual', 'almp', 'spike', 'budget' or 'measured'" },
        { Cal + "policy:\n  kind: all_int8\n", SpecCodes.UnknownValue, 3, 9, "did you mean 'all-int8'?" },
        { Cal + "validation:\n  providers: [cuda, tpu]\n", SpecCodes.UnknownValue, 3, 21, "unknown execution provider 'tpu' in 'validation.providers': expected 'cpu' or 'cuda'" },
        { Cal + "validation:\n  require: [cpux]\n", SpecCodes.UnknownValue, 3, 13, "did you mean 'cpu'?" },

        // token sources
        { "calibration:\n  text: a.txt\n  generated: {}\n", SpecCodes.BothTextAndGenerated, 3, 3, "has both 'text' and 'generated' (first at line 2)" },
        { Cal + "evaluation:\n  generated: {}\n  text: a.txt\n", SpecCodes.BothTextAndGenerated, 4, 3, "'evaluation' has both" },
        { "calibration:\n  context: 128\n", SpecCodes.NoTokenSource, 1, 1, "'calibration' needs its tokens: add 'text:" },
        { "calibration:\n", SpecCodes.NoTokenSource, 1, 1, "'calibration' is empty" },
        { Cal + "evaluation:\n  context: 128\n", SpecCodes.NoTokenSource, 2, 1, "'evaluation' needs its tokens" },
        { "target: cpu\ngates: {}\n", SpecCodes.MissingSection, 1, 1, "the spec has no 'calibration' section" },

        // providers
        { Cal + "validation:\n  providers: [cpu, cuda, cpu]\n", SpecCodes.DuplicateProvider, 3, 26, "'cpu' is listed twice in 'validation.providers' (first at line 3, column 15)" },
        { Cal + "validation:\n  providers: [cpu]\n  require: [cpu, cuda]\n", SpecCodes.RequiredProviderNotListed, 4, 18, "'cuda' is required but not in validation.providers [cpu]" },
        { "target: cuda\n" + Cal + "validation:\n  providers: [cuda]\n  require: [cpu]\n", SpecCodes.RequiredProviderNotListed, 5, 13, "add it to providers or remove it from require" },

        // policy kinds
        { Cal + "policy:\n  kind: all-int8\n  include: ['*']\n", SpecCodes.KeyNotValidForKind, 4, 3, "'policy.include' is not used by policy kind 'all-int8'; remove it, or set 'kind: manual'" },
        { Cal + "policy:\n  include: ['*']\n", SpecCodes.KeyNotValidForKind, 3, 3, "not used by policy kind 'all-int8'" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Reports_code_position_and_advice(string yaml, string code, int line, int column, string fragment)
    {
        var error = Fails(yaml);
        At(error, code, line, column);
        Assert.Contains(fragment, error.Message);
        Assert.StartsWith($"spec.yaml({line},{column}): error {code}: ", error.ToDiagnosticString());
    }

    [Fact]
    public void Yaml_errors_keep_the_yamldotnet_exception_but_not_its_position_prefix()
    {
        var error = Fails("a: [\n");
        Assert.IsAssignableFrom<YamlDotNet.Core.YamlException>(error.InnerException);
        Assert.DoesNotContain("Idx:", error.Message);
    }

    [Fact]
    public void Did_you_mean_is_left_out_when_nothing_is_close()
    {
        var error = Fails(Cal + "zzzzzz: 1\n");
        Assert.DoesNotContain("did you mean", error.Message);
        Assert.Contains("; valid keys here:", error.Message);
    }
}

using ModelCompiler.Calibration;
using ModelCompiler.Spec;
using static ModelCompiler.Tests.Spec.SpecAssert;

namespace ModelCompiler.Tests.Spec;

/// <summary><c>calibration.method</c> and <c>calibration.percentile</c>: valid only under calibration, percentile only with its method.</summary>
public class SpecCalibrationMethodTests
{
    [Theory]
    [InlineData("minmax", CalibrationMethod.MinMax)]
    [InlineData("percentile", CalibrationMethod.Percentile)]
    [InlineData("entropy", CalibrationMethod.Entropy)]
    [InlineData("Entropy", CalibrationMethod.Entropy)]
    public void Reads_each_method_at_its_position(string name, CalibrationMethod expected)
    {
        var spec = Parse($"calibration:\n  generated: {{}}\n  method: {name}\n").Spec;

        Assert.Equal(expected, spec.CalibrationMethod.Method.Value);
        Assert.False(spec.CalibrationMethod.Method.IsDefault);
        At(spec.CalibrationMethod.Method.Location, 3, 11);
        Assert.Equal(99.99, spec.CalibrationMethod.Percentile.Value);
        Assert.True(spec.CalibrationMethod.Percentile.IsDefault);
        Assert.Equal(name.ToLowerInvariant(), spec.CalibrationMethod.CreateEstimator().Name);
    }

    [Fact]
    public void Reads_the_percentile_of_method_percentile()
    {
        var spec = Parse("calibration:\n  generated: {}\n  method: percentile\n  percentile: 99.9\n").Spec;

        Assert.Equal(99.9, spec.CalibrationMethod.Percentile.Value);
        At(spec.CalibrationMethod.Percentile.Location, 4, 15);
        Assert.Equal(99.9, Assert.IsType<PercentileRangeEstimator>(spec.CalibrationMethod.CreateEstimator()).Percentile);
        Assert.Equal(100.0, Parse("calibration: { generated: {}, method: percentile, percentile: 100 }\n").Spec.CalibrationMethod.Percentile.Value);
    }

    [Fact]
    public void Defaults_to_minmax_at_the_calibration_key()
    {
        var spec = Parse("target: cpu\ncalibration:\n  generated: {}\n").Spec;

        Assert.Equal(CalibrationMethod.MinMax, spec.CalibrationMethod.Method.Value);
        Assert.True(spec.CalibrationMethod.Method.IsDefault);
        At(spec.CalibrationMethod.Method.Location, 2, 1);
        Assert.IsType<MinMaxRangeEstimator>(spec.CalibrationMethod.CreateEstimator());
    }

    [Fact]
    public void A_spec_built_in_code_defaults_to_minmax_at_its_file()
    {
        var parsed = Parse(GeneratedCalibration).Spec;
        var built = new QuantizationSpec("built.yaml", parsed.BaseDirectory, parsed.Target, parsed.Calibration, parsed.Evaluation,
            parsed.Policy, parsed.Fallback, parsed.Validation, parsed.Gates);

        Assert.Equal(CalibrationMethod.MinMax, built.CalibrationMethod.Method.Value);
        Assert.Equal(99.99, built.CalibrationMethod.Percentile.Value);
        Assert.Equal(SpecLocation.InFile("built.yaml"), built.CalibrationMethod.Method.Location);
        Assert.True(built.CalibrationMethod.Method.IsDefault);
    }

    public static TheoryData<string, string, int, int, string> Errors => new()
    {
        { "calibration:\n  generated: {}\n  method: entrpy\n", SpecCodes.UnknownValue, 3, 11,
            "unknown calibration.method 'entrpy': expected 'minmax', 'percentile' or 'entropy'; did you mean 'entropy'?" },
        { "calibration:\n  generated: {}\n  method: kl\n", SpecCodes.UnknownValue, 3, 11, "expected 'minmax', 'percentile' or 'entropy'" },
        { "calibration:\n  generated: {}\n  method: [minmax]\n", SpecCodes.WrongType, 3, 11, "must be one of 'minmax', 'percentile' or 'entropy'" },
        { "calibration:\n  generated: {}\n  methd: entropy\n", SpecCodes.UnknownKey, 3, 3, "unknown key 'methd' in 'calibration'; did you mean 'method'?" },
        { "calibration:\n  generated: {}\n  method: percentile\n  percentile: 0\n", SpecCodes.OutOfRange, 4, 15,
            "'calibration.percentile' must be greater than 0 and at most 100 (the percentile of |x| whose range is kept), not 0" },
        { "calibration:\n  generated: {}\n  method: percentile\n  percentile: -5\n", SpecCodes.OutOfRange, 4, 15, "greater than 0 and at most 100" },
        { "calibration:\n  generated: {}\n  method: percentile\n  percentile: 100.5\n", SpecCodes.OutOfRange, 4, 15, "not 100.5" },
        { "calibration:\n  generated: {}\n  method: percentile\n  percentile: .nan\n", SpecCodes.OutOfRange, 4, 15, "must be a finite number" },
        { "calibration:\n  generated: {}\n  method: percentile\n  percentile: high\n", SpecCodes.WrongType, 4, 15, "'calibration.percentile' must be a number" },
        { "calibration:\n  generated: {}\n  percentile: 99.9\n", SpecCodes.KeyNotValidForKind, 3, 3,
            "'calibration.percentile' is used only by method 'percentile', not 'minmax'; remove it, or set 'method: percentile'" },
        { "calibration:\n  generated: {}\n  method: entropy\n  percentile: 99.9\n", SpecCodes.KeyNotValidForKind, 4, 3, "not 'entropy'" },
        // the method check comes first: an out-of-range percentile under another method is reported as the wrong key
        { "calibration:\n  generated: {}\n  method: entropy\n  percentile: 0\n", SpecCodes.KeyNotValidForKind, 4, 3, "used only by method 'percentile'" },
        { GeneratedCalibration + "evaluation:\n  generated: {}\n  method: entropy\n", SpecCodes.UnknownKey, 4, 3,
            "unknown key 'method' in 'evaluation'; it belongs under 'calibration'; valid keys here: text, generated, tokenizer, context, max_tokens" },
        { GeneratedCalibration + "evaluation:\n  generated: {}\n  percentile: 99\n", SpecCodes.UnknownKey, 4, 3, "it belongs under 'calibration'" },
        { GeneratedCalibration + "method: entropy\n", SpecCodes.UnknownKey, 2, 1, "unknown key 'method' at the top level; it belongs under 'calibration'" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Reports_code_position_and_advice(string yaml, string code, int line, int column, string fragment)
    {
        var error = Fails(yaml);
        At(error, code, line, column);
        Assert.Contains(fragment, error.Message);
    }

    [Theory]
    [InlineData("method: entropy\n", "  method: entropy\n")]
    [InlineData("method: percentile\n", "  method: percentile\n  percentile: 99.99\n")]
    [InlineData("method: percentile\n  percentile: 99.5\n", "  method: percentile\n  percentile: 99.5\n")]
    [InlineData("", "  method: minmax\n")]
    public void Writer_writes_the_method_and_only_its_own_percentile(string keys, string written)
    {
        var first = Parse($"calibration:\n  generated: {{}}\n  {keys}").Spec;
        var yaml = SpecWriter.ToYaml(first);

        Assert.Contains("  max_tokens: 8192\n" + written + "evaluation:\n", yaml);
        var second = Parse(yaml).Spec;
        Assert.Equal(first.CalibrationMethod.Method.Value, second.CalibrationMethod.Method.Value);
        Assert.Equal(first.CalibrationMethod.Percentile.Value, second.CalibrationMethod.Percentile.Value);
        Assert.Equal(yaml, SpecWriter.ToYaml(second));
    }
}

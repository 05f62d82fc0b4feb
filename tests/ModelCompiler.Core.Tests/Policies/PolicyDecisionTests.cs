using ModelCompiler.Policies;
using ModelCompiler.Spec;
using static ModelCompiler.Core.Tests.Policies.PolicyTestData;

namespace ModelCompiler.Core.Tests.Policies;

/// <summary>Each policy on hand-made candidates: the expected decision of every layer is worked out from its numbers.</summary>
public sealed class PolicyDecisionTests
{
    private static readonly IReadOnlyList<LayerCandidate> Four =
    [
        Candidate("l0.q", kurtosis: 3.0, spike: 2.0, LayerRole.Q),
        Candidate("l0.down", kurtosis: 40.0, spike: 3.0, LayerRole.Down),   // kurtosis 40 > 8
        Candidate("l1.up", kurtosis: 4.0, spike: 30.0, LayerRole.Up),       // spike 30 > 16
        Candidate("lm_head", kurtosis: 7.9, spike: 15.9, LayerRole.LmHead), // both just under the defaults
    ];

    private static string[] Precisions(IReadOnlyList<LayerDecision> d) => d.Select(x => PolicyOverrides.Name(x.Precision)).ToArray();

    [Fact]
    public void Spike_with_defaults_keeps_the_layers_over_either_threshold()
    {
        var d = Decide("  kind: spike", Four);
        Assert.Equal(["int8", "fp32", "fp32", "int8"], Precisions(d));
        Assert.Contains("kurtosis 40.00 > kurtosis_threshold 8", d[1].Evidence.Rule);
        Assert.Contains("spike score 30.00 > spike_threshold 16", d[2].Evidence.Rule);
        Assert.Equal(40.0, d[1].Evidence.Kurtosis);
        Assert.Null(d[0].Evidence.PredictedRisk);
    }

    [Fact]
    public void Spike_thresholds_and_roles_come_from_the_spec()
    {
        var d = Decide("  kind: spike\n  spike_threshold: 40\n  kurtosis_threshold: 7.5\n  roles: [lm_head]", Four);
        // l0.down: kurtosis 40 > 7.5; l1.up: spike 30 ≤ 40 and kurtosis 4 ≤ 7.5; lm_head: listed role (and 7.9 > 7.5).
        Assert.Equal(["int8", "fp32", "int8", "fp32"], Precisions(d));
        Assert.Contains("role lm_head listed in roles", d[3].Evidence.Rule);
    }

    [Fact]
    public void Exclude_and_force_int8_override_any_kind_and_are_recorded()
    {
        var d = Decide("  kind: spike\n  exclude: [\"l0.q\"]\n  force_int8: [\"l0.down\"]", Four);
        Assert.Equal(["fp32", "int8", "fp32", "int8"], Precisions(d));
        Assert.StartsWith("exclude 'l0.q' (line", d[0].Evidence.Override);
        Assert.StartsWith("force_int8 'l0.down' (line", d[1].Evidence.Override);
        Assert.Contains("kurtosis 40.00", d[1].Evidence.Rule); // the policy's own evidence stays beside the override
    }

    [Fact]
    public void Exclude_roles_keeps_every_layer_of_a_listed_role_off_int8()
    {
        var d = Decide("  kind: all-int8\n  exclude_roles: [down, lm_head]", Four);
        Assert.Equal(["int8", "fp32", "int8", "fp32"], Precisions(d));
        Assert.StartsWith("exclude_roles 'down' (line 4", d[1].Evidence.Override);
        Assert.StartsWith("exclude_roles 'lm_head' (line 4", d[3].Evidence.Override);
    }

    [Fact]
    public void Force_int8_on_a_layer_of_an_excluded_role_is_an_error()
    {
        var e = Assert.Throws<ModelCompilerException>(() => Decide("  kind: all-int8\n  exclude_roles: [down]\n  force_int8: [\"l0.*\"]", Four));
        Assert.Equal(SpecCodes.ForcedAndExcluded, e.Code);
        Assert.Contains("exclude_roles 'down'", e.Message);
    }

    [Fact]
    public void Force_int8_and_exclude_on_the_same_layer_is_an_error_at_the_force_line()
    {
        var e = Assert.Throws<ModelCompilerException>(() => Decide("  kind: all-int8\n  exclude: [\"l0.*\"]\n  force_int8: [\"*.down\"]", Four));
        Assert.Equal(SpecCodes.ForcedAndExcluded, e.Code);
        Assert.Equal(5, e.Line); // line 1 calibration, 2 policy, 3 kind, 4 exclude, 5 force_int8
        Assert.Contains("'l0.down'", e.Message);
    }

    [Fact]
    public void Measured_keeps_the_layers_whose_own_increase_passes_the_limit()
    {
        var probe = new TableProbe(new() { ["l0.q"] = 0.01, ["l0.down"] = 0.3, ["l1.up"] = 0.05, ["lm_head"] = 0.0501 });
        var d = Decide("  kind: measured\n  max_layer_increase_pct: 0.05", Four, probe);
        // 0.05 is not above the limit; 0.0501 is.
        Assert.Equal(["int8", "fp32", "int8", "fp32"], Precisions(d));
        Assert.Equal(0.3, d[1].Evidence.MeasuredIncreasePct);
        Assert.Equal(4, probe.Calls);
    }

    [Theory]
    [InlineData("  kind: spike\n  spike_threshold: 0.5", SpecCodes.OutOfRange)]
    [InlineData("  kind: spike\n  roles: [lmhead]", SpecCodes.UnknownValue)]
    [InlineData("  kind: all-int8\n  exclude_roles: [downproj]", SpecCodes.UnknownValue)]
    [InlineData("  kind: all-int8\n  exclude_roles: [[down]]", SpecCodes.WrongType)]
    [InlineData("  kind: measured\n  probe_tokens: 1", SpecCodes.OutOfRange)]
    [InlineData("  kind: all-int8\n  spike_threshold: 3", SpecCodes.KeyNotValidForKind)]
    public void Bad_policy_values_are_spec_errors(string yaml, string code)
    {
        var e = Assert.Throws<ModelCompilerException>(() => Policy(yaml));
        Assert.Equal(code, e.Code);
        Assert.True(e.Line >= 3, $"line {e.Line}");
    }

    /// <summary>A probe whose measurement of each single layer is given by the test.</summary>
    private sealed class TableProbe(Dictionary<string, double> increase) : ISensitivityProbe
    {
        public int Calls { get; private set; }
        public int Tokens => 100;

        public LayerMeasurement Measure(IReadOnlyCollection<string> int8Layers)
        {
            Calls++;
            var pct = int8Layers.Sum(l => increase[l]);
            return new LayerMeasurement(pct, pct / 100, Math.Log(1 + pct / 100));
        }
    }
}

using ModelCompiler.Policies;
using static ModelCompiler.Core.Tests.Policies.PolicyTestData;

namespace ModelCompiler.Core.Tests.Policies;

/// <summary>The budget policy with measured costs on hand-made layers: the optimum is worked out by hand.</summary>
public sealed class BudgetDecisionTests
{
    // Parameters: a 64×64 = 4096, b 64×64 = 4096, c 64×128 = 8192, d 64×256 = 16384; 32768 in all.
    private static readonly IReadOnlyList<LayerCandidate> Layers =
    [
        Candidate("a", 3, 2, inF: 64, outF: 64),
        Candidate("b", 3, 2, inF: 64, outF: 64),
        Candidate("c", 3, 2, inF: 64, outF: 128),
        Candidate("d", 3, 2, inF: 64, outF: 256),
    ];

    private static readonly Dictionary<string, double> Costs = new() { ["a"] = 0.30, ["b"] = 0.01, ["c"] = 0.02, ["d"] = 0.05 };

    private static bool[] Int8(IReadOnlyList<LayerDecision> d) => d.Select(x => x.IsInt8).ToArray();

    [Fact]
    public void Min_int8_fraction_leaves_out_the_costliest_layer_the_budget_allows()
    {
        // At least 0.8 × 32768 = 26214.4 parameters INT8: leaving a out keeps 28672 (cost 0.08); leaving out d or c
        // would fall below the fraction. So only a stays fp32.
        var d = Decide("  kind: budget\n  min_int8_fraction: 0.8\n  costs: measured\n  probe_tokens: 64", Layers, new CostProbe(Costs));
        Assert.Equal([false, true, true, true], Int8(d));
        Assert.Equal(0.30, d[0].Evidence.MeasuredIncreasePct);
        Assert.Contains("integer program", d[0].Evidence.Rule);
    }

    [Fact]
    public void Max_predicted_increase_maximises_the_int8_share_within_the_cost()
    {
        // Cost ≤ 0.07: {b, c, d} costs 0.08 (too much); {c, d} 0.07 holds 24576 parameters, {b, d} 0.06 holds 20480:
        // the largest INT8 share within the limit is c and d.
        var d = Decide("  kind: budget\n  max_predicted_increase_pct: 0.07\n  costs: measured", Layers, new CostProbe(Costs));
        Assert.Equal([false, false, true, true], Int8(d));
    }

    [Fact]
    public void Exclusions_are_honoured_by_the_solver()
    {
        // d excluded: the most INT8 possible is 16384 of 32768 = 0.5, so 0.5 still fits with a, b, c INT8.
        var d = Decide("  kind: budget\n  min_int8_fraction: 0.5\n  costs: measured\n  exclude: [\"d\"]", Layers, new CostProbe(Costs));
        Assert.Equal([true, true, true, false], Int8(d));
        Assert.NotNull(d[3].Evidence.Override);
    }

    private sealed class CostProbe(Dictionary<string, double> costs) : ISensitivityProbe
    {
        public int Tokens => 64;

        public LayerMeasurement Measure(IReadOnlyCollection<string> int8Layers)
        {
            var pct = int8Layers.Sum(l => costs[l]);
            return new LayerMeasurement(pct, pct / 100, Math.Log(1 + pct / 100));
        }
    }
}

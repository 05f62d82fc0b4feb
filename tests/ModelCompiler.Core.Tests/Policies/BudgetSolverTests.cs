using ModelCompiler.Policies;
using static ModelCompiler.Policies.BudgetConstraint;

namespace ModelCompiler.Core.Tests.Policies;

public sealed class BudgetSolverTests
{
    // A: cost 1, 100 params, saves 300 bytes as INT8; B: cost 3, 100 params, saves 300; C: cost 2, 200 params, saves 600.
    // All fallback: 400 + 400 + 800 + 50 other = 1650 bytes; all INT8: 100 + 100 + 200 + 50 = 450.
    private static readonly BudgetItem[] Abc =
    [
        new("A", 1, 100, 100, 400),
        new("B", 3, 100, 100, 400),
        new("C", 2, 200, 200, 800),
    ];

    [Theory]
    // 1000 bytes: saving >= 650 needs C and one of A, B; A is cheaper. {A, B} saves only 600.
    [InlineData(1000, "A,C", 3.0, 750)]
    // 1050 bytes: C alone (cost 2) or A+B (cost 4) save exactly 600.
    [InlineData(1050, "C", 2.0, 1050)]
    // 1349 bytes: saving >= 301 needs C (cost 2) or two of A, B (cost >= 4).
    [InlineData(1349, "C", 2.0, 1050)]
    // 1350 bytes: A alone saves 300.
    [InlineData(1350, "A", 1.0, 1350)]
    [InlineData(1650, "", 0.0, 1650)]
    [InlineData(450, "A,B,C", 6.0, 450)]
    public void ModelBytes_HandWorkedOptimum(long limit, string int8, double cost, long bytes)
    {
        var s = BudgetSolver.Solve(Abc, new ModelBytesAtMost(limit, OtherBytes: 50));
        Assert.True(s.Feasible);
        Assert.Equal("Optimal", s.Status);
        Assert.Equal(int8, Names(Abc, s));
        Assert.Equal(cost, s.TotalCost, 12);
        Assert.Equal(bytes, s.ModelBytes);
        Assert.Null(s.InfeasibleReason);
    }

    [Theory]
    [InlineData(0.5, "C", 2.0, 0.5)]      // 200 of 400 params: C (cost 2) beats A+B (cost 4)
    [InlineData(0.75, "A,C", 3.0, 0.75)]  // 300: A+C (3) beats B+C (5)
    [InlineData(0.76, "A,B,C", 6.0, 1.0)] // 304 needs all
    [InlineData(0.0, "", 0.0, 0.0)]
    [InlineData(0.2, "A", 1.0, 0.25)]     // 80: A (cost 1) is the cheapest single item
    public void Int8Fraction_HandWorkedOptimum(double min, string int8, double cost, double fraction)
    {
        var s = BudgetSolver.Solve(Abc, new Int8FractionAtLeast(min));
        Assert.True(s.Feasible);
        Assert.Equal("Optimal", s.Status);
        Assert.Equal(int8, Names(Abc, s));
        Assert.Equal(cost, s.TotalCost, 12);
        Assert.Equal(fraction, s.Int8Fraction, 12);
    }

    [Theory]
    [InlineData(0.5, "", 0.0)]
    [InlineData(1.0, "A", 0.25)]
    [InlineData(2.5, "C", 0.5)]       // {A} 100 params or {C} 200 params
    [InlineData(3.0, "A,C", 0.75)]    // exactly on the limit
    [InlineData(5.99, "A,C", 0.75)]   // {B, C} (cost 5) has 300 params too, but costs more
    [InlineData(6.0, "A,B,C", 1.0)]
    public void MaxCost_HandWorkedOptimum(double limit, string int8, double fraction)
    {
        var s = BudgetSolver.Solve(Abc, new CostAtMost(limit));
        Assert.True(s.Feasible);
        Assert.Equal("Optimal", s.Status);
        Assert.Equal(int8, Names(Abc, s));
        Assert.Equal(fraction, s.Int8Fraction, 12);
        Assert.True(s.TotalCost <= limit);
    }

    [Fact]
    public void Ties_PreferMoreInt8Parameters_ThenLowerCost_ThenEarlierItems()
    {
        // Same cost and same saving; B has more parameters.
        BudgetItem[] paramsTie = [new("A", 1, 100, 100, 400), new("B", 1, 300, 100, 400)];
        Assert.Equal("B", Names(paramsTie, BudgetSolver.Solve(paramsTie, new ModelBytesAtMost(500))));
        // Same parameters under a cost limit of 2: both reach 50 %, Y costs less.
        BudgetItem[] costTie = [new("X", 2, 100, 100, 400), new("Y", 1, 100, 100, 400)];
        Assert.Equal("Y", Names(costTie, BudgetSolver.Solve(costTie, new CostAtMost(2))));
        // Identical items: the earlier ones go INT8.
        BudgetItem[] same = [new("P", 1, 100, 100, 400), new("Q", 1, 100, 100, 400), new("R", 1, 100, 100, 400)];
        Assert.Equal("P", Names(same, BudgetSolver.Solve(same, new Int8FractionAtLeast(0.3))));
        Assert.Equal("P,Q", Names(same, BudgetSolver.Solve(same, new CostAtMost(2))));
        Assert.Equal("P,Q", Names(same, BudgetSolver.Solve(same, new ModelBytesAtMost(600))));
        // Zero-cost items are INT8 where cost is minimised: more INT8 parameters at no cost.
        BudgetItem[] free = [new("Z", 0, 100, 100, 400), new("W", 5, 100, 100, 400)];
        Assert.Equal("Z", Names(free, BudgetSolver.Solve(free, new ModelBytesAtMost(800))));
    }

    [Fact]
    public void ForcedAndExcluded_AreHonoured()
    {
        BudgetItem[] items =
        [
            new("cheap_excluded", 0, 1000, 100, 400, Excluded: true),
            new("dear_forced", 50, 100, 100, 400, ForcedInt8: true),
            new("a", 1, 100, 100, 400),
            new("b", 2, 100, 100, 400),
        ];
        foreach (var c in new BudgetConstraint[] { new ModelBytesAtMost(10_000), new Int8FractionAtLeast(0), new CostAtMost(1000) })
        {
            var s = BudgetSolver.Solve(items, c);
            Assert.True(s.Feasible, c.ToString());
            Assert.False(s.Int8[0]);
            Assert.True(s.Int8[1]);
        }
        // 0.2 of 1300 params is 260: dear_forced gives 100, so a and b (cost 3) are both needed.
        var f = BudgetSolver.Solve(items, new Int8FractionAtLeast(0.2));
        Assert.Equal("dear_forced,a,b", Names(items, f));
        Assert.Equal(53, f.TotalCost, 12);
        // A cost limit of 51 leaves room for a only.
        Assert.Equal("dear_forced,a", Names(items, BudgetSolver.Solve(items, new CostAtMost(51))));
    }

    [Fact]
    public void Infeasible_SaysWhatIsBestAchievable()
    {
        BudgetItem[] items = [.. Abc, new("D", 0, 400, 100, 400, Excluded: true)];

        // Smallest model: A, B, C INT8, D excluded = 100 + 100 + 200 + 400 + 50 = 850 bytes.
        var bytes = BudgetSolver.Solve(items, new ModelBytesAtMost(849, OtherBytes: 50));
        Assert.False(bytes.Feasible);
        Assert.Equal("Infeasible", bytes.Status);
        Assert.Equal(850, bytes.ModelBytes);
        Assert.Equal("A,B,C", Names(items, bytes));
        Assert.Contains("850 bytes, limit 849", bytes.InfeasibleReason);
        Assert.True(BudgetSolver.Solve(items, new ModelBytesAtMost(850, OtherBytes: 50)).Feasible);

        // With D excluded at most 400 of 800 params are INT8.
        var fraction = BudgetSolver.Solve(items, new Int8FractionAtLeast(0.6));
        Assert.False(fraction.Feasible);
        Assert.Equal(0.5, fraction.Int8Fraction, 12);
        Assert.Contains("50.00 %", fraction.InfeasibleReason);
        Assert.Contains("60.00 %", fraction.InfeasibleReason);

        BudgetItem[] forced = [new("F", 2, 100, 100, 400, ForcedInt8: true), new("G", 1, 100, 100, 400)];
        var cost = BudgetSolver.Solve(forced, new CostAtMost(1.5));
        Assert.False(cost.Feasible);
        Assert.Equal(2, cost.TotalCost, 12);
        Assert.Equal("F", Names(forced, cost));
        Assert.Contains("cost 2, limit 1.5", cost.InfeasibleReason);
    }

    [Fact]
    public void BadInput_IsArgumentException()
    {
        Assert.Throws<ArgumentException>(() => BudgetSolver.Solve([new("x", -1, 1, 1, 1)], new CostAtMost(1)));
        Assert.Throws<ArgumentException>(() => BudgetSolver.Solve([new("x", double.NaN, 1, 1, 1)], new CostAtMost(1)));
        Assert.Throws<ArgumentException>(() => BudgetSolver.Solve([new("x", 1, 1, 1, 1, true, true)], new CostAtMost(1)));
        Assert.Throws<ArgumentException>(() => BudgetSolver.Solve([new("x", 1, 1, 1, 1)], new Int8FractionAtLeast(1.5)));
        Assert.Throws<ArgumentException>(() => BudgetSolver.Solve([new("x", 1, 0, 1, 1)], new Int8FractionAtLeast(0.5)));
        Assert.Throws<ArgumentException>(() => BudgetSolver.Solve([new("x", 1, 1, 1, 1)], new CostAtMost(-1)));
        Assert.Throws<ArgumentException>(() => BudgetSolver.Solve([new("x", 1, 1, 1, 1)], new ModelBytesAtMost(-1)));
    }

    /// <summary>
    /// Random instances (n &lt;= 12) against enumeration of all 2^n assignments with the documented tie-break. Costs
    /// lie on a grid that the 10⁶ scaling represents exactly (the largest is 1000), so the assignments must match.
    /// </summary>
    [Theory]
    [InlineData(Kind.Bytes)]
    [InlineData(Kind.Fraction)]
    [InlineData(Kind.Cost)]
    public void RandomInstances_MatchBruteForce(Kind kind)
    {
        var random = new Random(2024 + (int)kind);
        var infeasibleSeen = 0;
        for (var instance = 0; instance < 40; instance++)
        {
            var items = RandomItems(random, random.Next(1, 13), coarseCosts: instance % 2 == 0);
            var constraint = RandomConstraint(random, kind, items);
            var expected = BruteForce(items, constraint);
            var s = BudgetSolver.Solve(items, constraint);
            var label = $"instance {instance}: {constraint}";
            if (expected is null)
            {
                infeasibleSeen++;
                Assert.False(s.Feasible, label);
                Assert.Equal("Infeasible", s.Status);
                Assert.NotNull(s.InfeasibleReason);
                AssertBestAchievable(items, constraint, s, label);
                continue;
            }
            Assert.True(s.Feasible, label);
            Assert.Equal("Optimal", s.Status);
            Assert.Equal(Bits(expected), Bits(s.Int8));
            Assert.Equal(items.Where((_, i) => expected[i]).Sum(i => i.Cost), s.TotalCost, 9);
        }
        Assert.InRange(infeasibleSeen, 1, 20); // the generator reaches both outcomes
    }

    /// <summary>Costs off the grid: the scaled optimum is within the documented rounding of the true one.</summary>
    [Fact]
    public void RandomInstances_ArbitraryCosts_WithinRoundingOfBruteForce()
    {
        var random = new Random(77);
        for (var instance = 0; instance < 30; instance++)
        {
            var items = RandomItems(random, random.Next(2, 13), coarseCosts: false)
                .Select(i => i with { Cost = random.NextDouble() * 3.7 }).ToArray();
            var n = items.Length;
            var maxCost = items.Where(i => !i.Excluded).Select(i => i.Cost).DefaultIfEmpty(0).Max();
            var slack = n * maxCost / BudgetSolver.CostResolution; // n items, each at most one unit off

            var bytes = RandomConstraint(random, Kind.Bytes, items);
            var best = BruteForce(items, bytes);
            var s = BudgetSolver.Solve(items, bytes);
            Assert.Equal(best is not null, s.Feasible);
            if (best is not null)
            {
                var optimum = items.Where((_, i) => best[i]).Sum(i => i.Cost);
                Assert.InRange(s.TotalCost, optimum, optimum + slack);
            }

            // The cost limit is conservative: never above the limit, never worse than the optimum at limit − slack.
            var limit = random.NextDouble() * items.Sum(i => i.Cost);
            s = BudgetSolver.Solve(items, new CostAtMost(limit));
            var upper = BruteForce(items, new CostAtMost(limit));
            var lower = BruteForce(items, new CostAtMost(Math.Max(0, limit - slack)));
            Assert.Equal(upper is not null, s.Feasible);
            if (upper is null) continue;
            Assert.True(s.TotalCost <= limit, $"cost {s.TotalCost} over limit {limit}");
            Assert.InRange(s.Int8Fraction, lower is null ? 0 : Fraction(items, lower) - 1e-12, Fraction(items, upper) + 1e-12);
        }
    }

    /// <summary>A LLaMA-7B-sized instance (224 layers): the same answer twice, proven optimal, checked against a knapsack DP.</summary>
    [Fact]
    public void LargeInstance_IsDeterministicOptimalAndMatchesDynamicProgramming()
    {
        var random = new Random(3);
        var shapes = new long[] { 4096L * 4096, 4096L * 4096, 4096L * 4096, 4096L * 4096, 4096L * 11008, 4096L * 11008, 11008L * 4096 };
        var items = Enumerable.Range(0, 224).Select(i =>
        {
            var p = shapes[i % 7];
            return new BudgetItem($"layers.{i / 7}.{i % 7}", random.Next(0, 101), p, p + 4 * 4096, 2 * p);
        }).ToArray();
        const int limit = 2000; // integer costs, the largest 100: the scaling is exact

        var first = BudgetSolver.Solve(items, new CostAtMost(limit));
        var second = BudgetSolver.Solve(items.ToList(), new CostAtMost(limit));
        Assert.Equal("Optimal", first.Status);
        Assert.Equal(first.Int8, second.Int8);
        Assert.Equal(first, second with { Int8 = first.Int8 });

        // 0/1 knapsack over integer cost capacity: the most INT8 parameters with Σ cost <= limit.
        var bestParams = new long[limit + 1];
        foreach (var item in items)
            for (var c = limit; c >= (int)item.Cost; c--)
                bestParams[c] = Math.Max(bestParams[c], bestParams[c - (int)item.Cost] + item.Parameters);
        var total = items.Sum(i => i.Parameters);
        Assert.Equal((double)bestParams[limit] / total, first.Int8Fraction, 12);
        Assert.True(first.TotalCost <= limit);

        var bytes = BudgetSolver.Solve(items, new ModelBytesAtMost(items.Sum(i => i.FallbackBytes) * 7 / 10));
        Assert.Equal("Optimal", bytes.Status);
        Assert.Equal(bytes.Int8, BudgetSolver.Solve(items, new ModelBytesAtMost(items.Sum(i => i.FallbackBytes) * 7 / 10)).Int8);
    }

    public enum Kind { Bytes, Fraction, Cost }

    private static BudgetItem[] RandomItems(Random random, int n, bool coarseCosts)
    {
        long[] sizes = [64, 128, 256, 4096];
        var items = new BudgetItem[n];
        for (var i = 0; i < n; i++)
        {
            var p = sizes[random.Next(sizes.Length)];
            var roll = random.Next(10);
            items[i] = new BudgetItem($"l{i}",
                Cost: coarseCosts ? random.Next(0, 11) * 100 : random.Next(0, 1001),
                Parameters: p, Int8Bytes: p + random.Next(0, 65), FallbackBytes: p * (random.Next(2) == 0 ? 2 : 4),
                ForcedInt8: roll == 0, Excluded: roll == 1);
        }
        var candidates = Enumerable.Range(0, n).Where(i => !items[i].Excluded).ToArray();
        if (candidates.Length > 0) // the largest cost is 1000, so every cost scales to an integer exactly
        {
            var k = candidates[random.Next(candidates.Length)];
            items[k] = items[k] with { Cost = 1000 };
        }
        return items;
    }

    private static BudgetConstraint RandomConstraint(Random random, Kind kind, BudgetItem[] items)
    {
        var other = (long)random.Next(0, 500);
        switch (kind)
        {
            case Kind.Bytes:
                var smallest = other + items.Sum(i => i.Excluded ? i.FallbackBytes : i.ForcedInt8 ? i.Int8Bytes : Math.Min(i.Int8Bytes, i.FallbackBytes));
                var largest = other + items.Sum(i => i.FallbackBytes);
                return new ModelBytesAtMost(smallest - 200 + (long)(random.NextDouble() * (largest - smallest + 200)), other);
            case Kind.Fraction:
                return new Int8FractionAtLeast(Math.Min(1, Math.Round(random.NextDouble() * 1.1, 3)), other);
            default:
                var forced = items.Where(i => i.ForcedInt8).Sum(i => i.Cost);
                var free = items.Where(i => !i.ForcedInt8 && !i.Excluded).Sum(i => i.Cost);
                return new CostAtMost(Math.Max(0, Math.Round(forced + (random.NextDouble() * 1.2 - 0.2) * (free + 500))), other);
        }
    }

    /// <summary>
    /// The best assignment by enumeration, or null when none meets the budget: (1) objective, (2) more INT8 params
    /// (cost problems) or lower cost (fraction problem), (3) at the first item where two differ, the one with INT8.
    /// </summary>
    private static bool[]? BruteForce(BudgetItem[] items, BudgetConstraint constraint)
    {
        var n = items.Length;
        bool[]? best = null;
        (double, double) bestKey = default;
        for (var mask = 0; mask < 1 << n; mask++)
        {
            var x = new bool[n];
            var ok = true;
            for (var i = 0; i < n; i++)
            {
                x[i] = (mask >> i & 1) == 1;
                if ((items[i].ForcedInt8 && !x[i]) || (items[i].Excluded && x[i])) ok = false;
            }
            if (!ok) continue;
            var cost = items.Where((_, i) => x[i]).Sum(i => i.Cost);
            var parameters = items.Where((_, i) => x[i]).Sum(i => i.Parameters);
            var total = items.Sum(i => i.Parameters);
            (double, double) key; // smaller is better
            switch (constraint)
            {
                case ModelBytesAtMost c:
                    if (Bytes(items, x, c.OtherBytes) > c.MaxModelBytes) continue;
                    key = (cost, -parameters);
                    break;
                case Int8FractionAtLeast c:
                    if ((decimal)parameters < (decimal)c.MinInt8Fraction * total) continue;
                    key = (cost, -parameters);
                    break;
                case CostAtMost c:
                    if (cost > c.MaxCost + 1e-9) continue;
                    key = (-parameters, cost);
                    break;
                default: throw new InvalidOperationException();
            }
            bool better;
            if (best is null) better = true;
            else if (Math.Abs(key.Item1 - bestKey.Item1) > 1e-9) better = key.Item1 < bestKey.Item1;
            else if (Math.Abs(key.Item2 - bestKey.Item2) > 1e-9) better = key.Item2 < bestKey.Item2;
            else better = EarlierInt8(x, best);
            if (better)
            {
                best = x;
                bestKey = key;
            }
        }
        return best;
    }

    private static bool EarlierInt8(bool[] x, bool[] y)
    {
        for (var i = 0; i < x.Length; i++)
            if (x[i] != y[i]) return x[i];
        return false;
    }

    /// <summary>The infeasible answer is the extreme assignment, worked out here directly.</summary>
    private static void AssertBestAchievable(BudgetItem[] items, BudgetConstraint constraint, BudgetSolution s, string label)
    {
        switch (constraint)
        {
            case ModelBytesAtMost c:
                var smallest = c.OtherBytes + items.Sum(i => i.Excluded ? i.FallbackBytes : i.ForcedInt8 ? i.Int8Bytes : Math.Min(i.Int8Bytes, i.FallbackBytes));
                Assert.Equal(smallest, s.ModelBytes);
                Assert.True(smallest > c.MaxModelBytes, label);
                break;
            case Int8FractionAtLeast c:
                var most = (double)items.Where(i => !i.Excluded).Sum(i => i.Parameters) / items.Sum(i => i.Parameters);
                Assert.Equal(most, s.Int8Fraction, 12);
                Assert.True(most < c.MinInt8Fraction, label);
                break;
            case CostAtMost c:
                var forced = items.Where(i => i.ForcedInt8).Sum(i => i.Cost);
                Assert.Equal(forced, s.TotalCost, 9);
                Assert.True(forced > c.MaxCost, label);
                break;
        }
    }

    private static long Bytes(BudgetItem[] items, bool[] x, long other) =>
        other + items.Select((it, i) => x[i] ? it.Int8Bytes : it.FallbackBytes).Sum();

    private static double Fraction(BudgetItem[] items, bool[] x) =>
        (double)items.Where((_, i) => x[i]).Sum(i => i.Parameters) / items.Sum(i => i.Parameters);

    private static string Bits(IReadOnlyList<bool> x) => string.Concat(x.Select(b => b ? '1' : '0'));

    private static string Names(IReadOnlyList<BudgetItem> items, BudgetSolution s) =>
        string.Join(",", items.Where((_, i) => s.Int8[i]).Select(i => i.Name));
}

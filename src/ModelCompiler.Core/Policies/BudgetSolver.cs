using System.Globalization;
using Google.OrTools.Sat;

namespace ModelCompiler.Policies;

/// <summary>One quantizable layer as the budget integer program sees it.</summary>
/// <param name="Cost">The model's degradation when this layer alone is INT8 (predicted or measured), finite and &gt;= 0.
/// Costs add up over the INT8 layers.</param>
/// <param name="Parameters">The layer's weight count, for the INT8 parameter fraction.</param>
/// <param name="Int8Bytes">The layer's bytes in the output model when INT8.</param>
/// <param name="FallbackBytes">The layer's bytes when it stays in its fallback precision (FP16 or FP32).</param>
/// <param name="ForcedInt8">Always INT8 (the spec says so).</param>
/// <param name="Excluded">Never INT8 (the spec says so).</param>
public sealed record BudgetItem(
    string Name, double Cost, long Parameters, long Int8Bytes, long FallbackBytes,
    bool ForcedInt8 = false, bool Excluded = false);

/// <summary>The one budget a <see cref="BudgetSolver"/> run meets, and what it optimises.</summary>
/// <param name="OtherBytes">Bytes of everything in the model that is not a quantizable layer (embeddings, norms,
/// graph); added to every <see cref="BudgetSolution.ModelBytes"/>.</param>
public abstract record BudgetConstraint(long OtherBytes)
{
    /// <summary>Minimise the total cost with the model at most <paramref name="MaxModelBytes"/> bytes.</summary>
    public sealed record ModelBytesAtMost(long MaxModelBytes, long OtherBytes = 0) : BudgetConstraint(OtherBytes);

    /// <summary>Minimise the total cost with at least <paramref name="MinInt8Fraction"/> (0..1) of the parameters INT8.</summary>
    public sealed record Int8FractionAtLeast(double MinInt8Fraction, long OtherBytes = 0) : BudgetConstraint(OtherBytes);

    /// <summary>Maximise the INT8 parameter fraction with the total cost at most <paramref name="MaxCost"/>.</summary>
    public sealed record CostAtMost(double MaxCost, long OtherBytes = 0) : BudgetConstraint(OtherBytes);
}

/// <summary>
/// The assignment a <see cref="BudgetSolver"/> chose. When <paramref name="Feasible"/> is false, the assignment is the
/// one that comes closest to the budget (smallest model, largest INT8 fraction, or lowest cost), its figures are the
/// best achievable values, and <paramref name="InfeasibleReason"/> says so in a sentence.
/// </summary>
/// <param name="Int8">Per item, in input order: true where the layer is INT8.</param>
/// <param name="TotalCost">The sum of <see cref="BudgetItem.Cost"/> over the INT8 items, in doubles (not the scaled integers).</param>
/// <param name="Int8Fraction">INT8 parameters over all parameters (0 when there are none).</param>
/// <param name="ModelBytes">INT8 or fallback bytes per item, plus <see cref="BudgetConstraint.OtherBytes"/>.</param>
/// <param name="Status">"Optimal" when every stage was proven optimal; "Infeasible"; otherwise the CP-SAT status of
/// the first stage that was not proven (e.g. "Feasible" when a time limit cut the proof short).</param>
public sealed record BudgetSolution(
    bool Feasible, IReadOnlyList<bool> Int8, double TotalCost, double Int8Fraction, long ModelBytes,
    string Status, string? InfeasibleReason);

/// <summary>
/// The MXQ-style budget integer program: which layers go INT8 under one budget, solved exactly with CP-SAT.
/// </summary>
/// <remarks>
/// <para>One boolean per item that is neither forced nor excluded; the three problems of <see cref="BudgetConstraint"/>
/// are each one linear constraint and one linear objective over them.</para>
/// <para>Costs are scaled to integers by the power of ten that brings the largest cost among the items that may be
/// INT8 into [10⁶, 10⁷), so costs with up to seven significant digits (0.25, 1.5, 3) are exact. Where cost is
/// minimised the rest are rounded to the nearest unit (half away from zero): the optimum is exact to ½ unit, at most
/// ½·10⁻⁶ of the largest cost, per item. Where cost is the constraint (<see cref="BudgetConstraint.CostAtMost"/>)
/// each cost is rounded up and the limit down, so the chosen layers never exceed the limit in doubles (up to
/// floating-point noise of 10⁻⁶ unit), at the price of rejecting sums within one unit per item below the limit.
/// Parameters and bytes are exact integers; the parameter requirement is <c>ceil(MinInt8Fraction × total)</c>
/// computed in decimal.</para>
/// <para>Ties break lexicographically, each stage re-solved with the earlier optima fixed: (1) the objective,
/// (2) for the cost problems more INT8 parameters, for the fraction problem a lower cost, (3) INT8 on the earliest items in
/// input order (the lexicographically largest assignment that keeps (1) and (2), found 30 items per solve). The answer therefore
/// depends on the problem alone, not on the solver's search, and CP-SAT runs on one worker with a fixed seed and a
/// deterministic time limit besides.</para>
/// </remarks>
public static class BudgetSolver
{
    /// <summary>The largest cost scales to at least this many integer units (and fewer than ten times as many).</summary>
    public const long CostResolution = 1_000_000;

    /// <summary>Free items per tie-break solve: weights up to 2^29 stay exact in CP-SAT's floating-point relaxation.</summary>
    private const int OrderChunk = 30;

    /// <summary>
    /// Solves the budget problem. <paramref name="maxSecondsPerSolve"/> bounds each CP-SAT call in deterministic time
    /// (CP-SAT's work units, about a second each) and, as a safety net, in wall time at twice that.
    /// </summary>
    /// <exception cref="ArgumentException">An item with a negative or non-finite cost, negative sizes, or both
    /// forced and excluded; a fraction outside [0, 1]; a negative or non-finite cost limit; a fraction budget over
    /// items without parameters.</exception>
    public static BudgetSolution Solve(IReadOnlyList<BudgetItem> items, BudgetConstraint constraint, double maxSecondsPerSolve = 10)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(constraint);
        Validate(items, constraint);
        if (!(maxSecondsPerSolve > 0)) throw new ArgumentOutOfRangeException(nameof(maxSecondsPerSolve));

        var p = new Problem(items);
        var fixedInt8 = items.Select(i => i.ForcedInt8).ToArray(); // forced in, excluded and free start out
        var n = p.Free.Length;

        // Quantities over the free items: coefficient per free item and the constant from the forced ones.
        var costNearest = Over(p, i => ScaleCost(items[i].Cost, p.CostExponent, ceiling: false));
        var parameters = Over(p, i => items[i].Parameters);

        Bound primaryConstraint;
        Quantity primary, secondary;
        bool maximisePrimary, maximiseSecondary;
        switch (constraint)
        {
            case BudgetConstraint.ModelBytesAtMost c:
            {
                // bytes = other + Σ fallback + Σ_free x·(int8 − fallback) + Σ_forced (int8 − fallback)
                var delta = Over(p, i => items[i].Int8Bytes - items[i].FallbackBytes);
                var limit = c.MaxModelBytes - c.OtherBytes - items.Sum(i => i.FallbackBytes);
                var smallest = delta.Constant + delta.Coefficients.Where(d => d < 0).Sum();
                if (smallest > limit)
                {
                    var best = fixedInt8.ToArray();
                    for (var k = 0; k < n; k++) best[p.Free[k]] = delta.Coefficients[k] < 0;
                    var bytes = ModelBytes(items, best, c.OtherBytes);
                    return Infeasible(items, best, c.OtherBytes,
                        $"no assignment meets the model size limit: the smallest model ({Describe(items, best)}) is " +
                        $"{bytes.ToString(CultureInfo.InvariantCulture)} bytes, limit {c.MaxModelBytes.ToString(CultureInfo.InvariantCulture)}");
                }
                primaryConstraint = new Bound(delta, long.MinValue, limit);
                (primary, maximisePrimary, secondary, maximiseSecondary) = (costNearest, false, parameters, true);
                break;
            }
            case BudgetConstraint.Int8FractionAtLeast c:
            {
                var total = items.Sum(i => i.Parameters);
                var required = (long)Math.Ceiling((decimal)c.MinInt8Fraction * total);
                var largest = parameters.Constant + parameters.Coefficients.Sum();
                if (largest < required)
                {
                    var best = fixedInt8.ToArray();
                    foreach (var f in p.Free) best[f] = true;
                    return Infeasible(items, best, c.OtherBytes,
                        $"no assignment meets the INT8 fraction: INT8 on every layer that is not excluded ({Describe(items, best)}) " +
                        $"gives {Fraction(items, best).ToString("P2", CultureInfo.InvariantCulture)} of the parameters, " +
                        $"minimum {c.MinInt8Fraction.ToString("P2", CultureInfo.InvariantCulture)}");
                }
                primaryConstraint = new Bound(parameters, required, long.MaxValue);
                (primary, maximisePrimary, secondary, maximiseSecondary) = (costNearest, false, parameters, true);
                break;
            }
            case BudgetConstraint.CostAtMost c:
            {
                var costCeiling = Over(p, i => ScaleCost(items[i].Cost, p.CostExponent, ceiling: true));
                var limit = ScaleLimit(c.MaxCost, p.CostExponent, costCeiling);
                if (costCeiling.Constant > limit)
                {
                    var best = fixedInt8.ToArray();
                    return Infeasible(items, best, c.OtherBytes,
                        $"no assignment meets the cost limit: the forced INT8 layers alone ({Describe(items, best)}) cost " +
                        $"{TotalCost(items, best).ToString("G6", CultureInfo.InvariantCulture)}, limit {c.MaxCost.ToString("G6", CultureInfo.InvariantCulture)}");
                }
                primaryConstraint = new Bound(costCeiling, long.MinValue, limit);
                (primary, maximisePrimary, secondary, maximiseSecondary) = (parameters, true, costNearest, false);
                break;
            }
            default:
                throw new ArgumentException($"unknown budget constraint {constraint.GetType().Name}", nameof(constraint));
        }

        var solver = new Stages(n, maxSecondsPerSolve);
        var bounds = new List<Bound> { primaryConstraint };
        var status = "Optimal";

        // (1) the objective, (2) the secondary objective at the primary optimum.
        var x = solver.Optimise(bounds, primary, maximisePrimary, hint: null, out var st);
        if (x is null) return Unsolved(items, fixedInt8, constraint, st);
        if (st != CpSolverStatus.Optimal) status = st.ToString();
        else
        {
            bounds.Add(Bound.Exactly(primary, primary.Value(x)));
            var x2 = solver.Optimise(bounds, secondary, maximiseSecondary, x, out st);
            if (x2 is null || st != CpSolverStatus.Optimal) status = st.ToString();
            else
            {
                x = x2;
                bounds.Add(Bound.Exactly(secondary, secondary.Value(x)));
                // (3) INT8 on the earliest items: chunk by chunk in input order, the lexicographically largest
                // assignment of the chunk (weights 2^29 .. 2^0, exact in the solver's doubles) with earlier chunks fixed.
                var fix = new sbyte[n];
                Array.Fill(fix, (sbyte)-1);
                for (var start = 0; start < n && status == "Optimal"; start += OrderChunk)
                {
                    var weights = new long[n];
                    var end = Math.Min(n, start + OrderChunk);
                    for (var k = start; k < end; k++) weights[k] = 1L << (OrderChunk - 1 - (k - start));
                    var x3 = solver.Optimise(bounds, new Quantity(weights, 0), maximise: true, x, out st, fix);
                    if (x3 is null || st != CpSolverStatus.Optimal) status = st.ToString();
                    else
                    {
                        x = x3;
                        for (var k = start; k < end; k++) fix[k] = x[k] ? (sbyte)1 : (sbyte)0;
                    }
                }
            }
        }

        var int8 = fixedInt8.ToArray();
        for (var k = 0; k < n; k++) int8[p.Free[k]] = x[k];
        return Result(items, int8, constraint.OtherBytes, feasible: true, status, reason: null);
    }

    private static void Validate(IReadOnlyList<BudgetItem> items, BudgetConstraint constraint)
    {
        foreach (var item in items)
        {
            if (!double.IsFinite(item.Cost) || item.Cost < 0)
                throw new ArgumentException($"budget item '{item.Name}': cost {item.Cost} is not a finite value >= 0", nameof(items));
            if (item.Parameters < 0 || item.Int8Bytes < 0 || item.FallbackBytes < 0)
                throw new ArgumentException($"budget item '{item.Name}': parameters and bytes must be >= 0", nameof(items));
            if (item.ForcedInt8 && item.Excluded)
                throw new ArgumentException($"budget item '{item.Name}' is both forced to INT8 and excluded from it", nameof(items));
        }
        if (constraint.OtherBytes < 0)
            throw new ArgumentException("OtherBytes must be >= 0", nameof(constraint));
        switch (constraint)
        {
            case BudgetConstraint.ModelBytesAtMost c:
                if (c.MaxModelBytes < 0)
                    throw new ArgumentException($"model size limit {c.MaxModelBytes} is negative", nameof(constraint));
                break;
            case BudgetConstraint.Int8FractionAtLeast c:
                if (!(c.MinInt8Fraction >= 0 && c.MinInt8Fraction <= 1))
                    throw new ArgumentException($"minimum INT8 fraction {c.MinInt8Fraction} is not in [0, 1]", nameof(constraint));
                if (items.Sum(i => i.Parameters) == 0)
                    throw new ArgumentException("an INT8 fraction budget needs items with parameters", nameof(items));
                break;
            case BudgetConstraint.CostAtMost c:
                if (!double.IsFinite(c.MaxCost) || c.MaxCost < 0)
                    throw new ArgumentException($"cost limit {c.MaxCost} is not a finite value >= 0", nameof(constraint));
                break;
        }
    }

    /// <summary>
    /// cost × 10^exponent, rounded (or rounded up). Values within 10⁻⁶ of an integer count as that integer, so that
    /// 0.1 × 10⁶ is 100000 and not 100001 after floating-point noise.
    /// </summary>
    private static long ScaleCost(double cost, int exponent, bool ceiling)
    {
        var v = Times10(cost, exponent);
        var nearest = Math.Round(v, MidpointRounding.AwayFromZero);
        if (Math.Abs(v - nearest) <= 1e-6 || !ceiling) return (long)nearest;
        return (long)Math.Ceiling(v);
    }

    private static long ScaleLimit(double limit, int exponent, Quantity costCeiling)
    {
        var all = costCeiling.Constant + costCeiling.Coefficients.Sum();
        var v = Times10(limit, exponent);
        if (v >= all) return all; // everything fits (also when every cost is 0)
        var nearest = Math.Round(v);
        return Math.Abs(v - nearest) <= 1e-6 ? (long)nearest : (long)Math.Floor(v);
    }

    /// <summary>The power of ten that brings the largest cost into [10⁶, 10⁷); 0 when every cost is 0.</summary>
    private static int CostExponent(double maxCost)
    {
        if (maxCost == 0) return 0;
        var k = 6 - (int)Math.Floor(Math.Log10(maxCost));
        while (Times10(maxCost, k) >= 10 * CostResolution) k--;
        while (Times10(maxCost, k) < CostResolution) k++;
        return k;
    }

    /// <summary>v × 10^k, in two steps so that neither factor overflows for any double's exponent (|k| &lt;= 330).</summary>
    private static double Times10(double v, int k)
    {
        var half = k / 2;
        return k >= 0 ? v * Math.Pow(10, half) * Math.Pow(10, k - half) : v / Math.Pow(10, -half) / Math.Pow(10, half - k);
    }

    private static Quantity Over(Problem p, Func<int, long> perItem)
    {
        long constant = 0;
        for (var i = 0; i < p.Items.Count; i++)
            if (p.Items[i].ForcedInt8) constant += perItem(i);
        return new Quantity(p.Free.Select(perItem).ToArray(), constant);
    }

    private static BudgetSolution Infeasible(IReadOnlyList<BudgetItem> items, bool[] best, long otherBytes, string reason) =>
        Result(items, best, otherBytes, feasible: false, "Infeasible", reason);

    /// <summary>The first stage found no solution at all (a time limit before the first one, or an invalid model).</summary>
    private static BudgetSolution Unsolved(IReadOnlyList<BudgetItem> items, bool[] forced, BudgetConstraint constraint, CpSolverStatus status) =>
        Result(items, forced, constraint.OtherBytes, feasible: false, status.ToString(),
            $"CP-SAT found no assignment ({status}) within its time limit");

    private static BudgetSolution Result(IReadOnlyList<BudgetItem> items, bool[] int8, long otherBytes, bool feasible, string status, string? reason) =>
        new(feasible, int8, TotalCost(items, int8), Fraction(items, int8), ModelBytes(items, int8, otherBytes), status, reason);

    private static double TotalCost(IReadOnlyList<BudgetItem> items, bool[] int8)
    {
        var sum = 0.0;
        for (var i = 0; i < items.Count; i++)
            if (int8[i]) sum += items[i].Cost;
        return sum;
    }

    private static double Fraction(IReadOnlyList<BudgetItem> items, bool[] int8)
    {
        long total = 0, q = 0;
        for (var i = 0; i < items.Count; i++)
        {
            total += items[i].Parameters;
            if (int8[i]) q += items[i].Parameters;
        }
        return total == 0 ? 0 : (double)q / total;
    }

    private static long ModelBytes(IReadOnlyList<BudgetItem> items, bool[] int8, long otherBytes)
    {
        var sum = otherBytes;
        for (var i = 0; i < items.Count; i++) sum += int8[i] ? items[i].Int8Bytes : items[i].FallbackBytes;
        return sum;
    }

    private static string Describe(IReadOnlyList<BudgetItem> items, bool[] int8) =>
        $"INT8 on {int8.Count(b => b)} of {items.Count} layers, {items.Count(i => i.Excluded)} excluded, {items.Count(i => i.ForcedInt8)} forced";

    /// <summary>The items and which of them the solver decides (neither forced nor excluded).</summary>
    private sealed class Problem(IReadOnlyList<BudgetItem> items)
    {
        public IReadOnlyList<BudgetItem> Items { get; } = items;
        public int[] Free { get; } = Enumerable.Range(0, items.Count).Where(i => !items[i].ForcedInt8 && !items[i].Excluded).ToArray();
        public int CostExponent { get; } = CostExponent(items.Where(i => !i.Excluded).Select(i => i.Cost).DefaultIfEmpty(0).Max());
    }

    /// <summary>Runs CP-SAT over the free items' booleans, a fresh model per call.</summary>
    private sealed class Stages(int n, double maxSeconds)
    {
        public bool[]? Optimise(IReadOnlyList<Bound> bounds, Quantity objective, bool maximise, bool[]? hint, out CpSolverStatus status,
            sbyte[]? fix = null)
        {
            var (model, x) = Build(bounds, fix, hint);
            var expr = LinearExpr.WeightedSum(x, objective.Coefficients);
            if (maximise) model.Maximize(expr); else model.Minimize(expr);
            return Run(model, x, out status);
        }

        private (CpModel Model, BoolVar[] X) Build(IReadOnlyList<Bound> bounds, sbyte[]? fix, bool[]? hint)
        {
            var model = new CpModel();
            var x = new BoolVar[n];
            for (var k = 0; k < n; k++)
            {
                x[k] = model.NewBoolVar($"x{k}");
                if (fix is not null && fix[k] >= 0) model.Add(x[k] == fix[k]);
                if (hint is not null) model.AddHint(x[k], hint[k]);
            }
            foreach (var b in bounds)
                model.AddLinearConstraint(LinearExpr.WeightedSum(x, b.Quantity.Coefficients),
                    b.Min == long.MinValue ? long.MinValue : b.Min - b.Quantity.Constant,
                    b.Max == long.MaxValue ? long.MaxValue : b.Max - b.Quantity.Constant);
            return (model, x);
        }

        private bool[]? Run(CpModel model, BoolVar[] x, out CpSolverStatus status)
        {
            using var solver = new CpSolver
            {
                StringParameters = string.Create(CultureInfo.InvariantCulture,
                    $"num_workers:1,random_seed:17,cp_model_presolve:false,max_deterministic_time:{maxSeconds},max_time_in_seconds:{2 * maxSeconds}"),
            };
            status = solver.Solve(model, null);
            if (status is not (CpSolverStatus.Optimal or CpSolverStatus.Feasible)) return null;
            return x.Select(v => solver.BooleanValue(v)).ToArray();
        }
    }

    /// <summary>A linear quantity over the free items (one coefficient each) plus the forced items' constant.</summary>
    private sealed record Quantity(long[] Coefficients, long Constant)
    {
        public long Value(bool[] x)
        {
            var sum = Constant;
            for (var k = 0; k < x.Length; k++)
                if (x[k]) sum += Coefficients[k];
            return sum;
        }
    }

    /// <summary><see cref="Min"/> &lt;= quantity &lt;= <see cref="Max"/>, with long.MinValue / MaxValue for no bound.</summary>
    private sealed record Bound(Quantity Quantity, long Min, long Max)
    {
        public static Bound Exactly(Quantity q, long value) => new(q, value, value);
    }
}

using System.Globalization;
using ModelCompiler.Policies;

namespace ModelCompiler.Compilation;

/// <summary>
/// <c>gates.on_fail: fallback</c>: a failing gate starts a search instead of stopping the build. INT8 layers move
/// back to the fallback precision riskiest first (the policy's predicted risk, else its measured sensitivity, else
/// a sensitivity sweep run here). The number moved back is found by doubling and then bisecting, so a model with
/// n layers needs O(log n) re-validations rather than n. Forced layers never move. Every try is recorded.
/// </summary>
public static class ClosedLoop
{
    public const string NoAssignmentCode = "MC2004";

    public static CompileAttempt Run(CompileState s, CompileAttempt failed)
    {
        var decisions = failed.Result.Decisions;
        var movable = decisions.Where(d => d.IsInt8 && s.Spec.Policy.FindForced(d.Layer.Name) is null).ToList();
        var order = Rank(s, movable);
        s.Lap("sensitivity");
        var ranked = order.ToDictionary(d => d.Layer.Name, StringComparer.Ordinal);
        decisions = decisions.Select(d => ranked.TryGetValue(d.Layer.Name, out var r) ? r : d).ToList();
        var steps = new List<FallbackStep>();
        s.Reporter.Stage("fallback", $"gate '{failed.Result.Gates.First(g => !g.Passed).Name}' missed; moving up to {order.Count} INT8 layers back to {PolicyOverrides.Name(s.Fallback)}, riskiest first");

        var tried = new Dictionary<int, CompileAttempt>();
        CompileAttempt Try(int k)
        {
            if (tried.TryGetValue(k, out var known)) return known;
            var moved = order.Take(k).Select(d => d.Layer.Name).ToHashSet(StringComparer.Ordinal);
            var step = steps.Count + 1;
            var next = decisions.Select(d => moved.Contains(d.Layer.Name)
                ? d with
                {
                    Precision = s.Fallback,
                    Reason = $"moved back by the closed loop (step {step}): {d.Reason}",
                    Evidence = d.Evidence with { FallbackStep = step },
                }
                : d).ToList();
            var attempt = CompileStages.TransformAndValidate(s, next, $"fallback step {step}, {k} layers back");
            var primary = attempt.Result.Providers.FirstOrDefault(p => p.Status == Validation.ProviderStatus.Ok);
            steps.Add(new FallbackStep(step, order.Take(k).Select(d => d.Layer.Name).ToList(), attempt.Result.Int8Layers,
                primary?.PerplexityIncreasePct ?? double.NaN, attempt.Result.Passed, attempt.Result.Gates.FirstOrDefault(g => !g.Passed)?.Name));
            s.Reporter.Stage("fallback", string.Create(CultureInfo.InvariantCulture,
                $"step {step}: {k} back, {attempt.Result.Int8Layers} INT8, perplexity {(primary is null ? "n/a" : ReportNumbers.SignedPercent(primary.PerplexityIncreasePct, 3))} → {(attempt.Result.Passed ? "pass" : "fail")}"));
            tried[k] = attempt;
            // Only a passing try can become the output: a failing one's files go now, not at the end (big models).
            if (!attempt.Result.Passed) Discard(attempt);
            return attempt;
        }

        Discard(failed);

        // Doubling finds a passing count (or proves none), then bisection finds the least one between the last failure and it.
        int lo = 0, hi = -1;
        for (var k = 1; order.Count > 0; k = Math.Min(k * 2, order.Count))
        {
            if (Try(k).Result.Passed) { hi = k; break; }
            lo = k;
            if (k == order.Count) break;
        }
        if (hi < 0)
        {
            var last = steps.Count > 0 ? steps[^1] : null;
            throw new ModelCompilerException(NoAssignmentCode,
                $"gates.on_fail: fallback found no assignment that passes every gate: tried {string.Join("; ", steps.Select(Describe))}"
                + (last is null ? "; no INT8 layer could be moved back" : "")
                + ". Relax the gate, or calibrate on more representative text.",
                s.Spec.SpecPath, s.Spec.Gates.OnFail.Location.Line, s.Spec.Gates.OnFail.Location.Column);
        }
        while (hi - lo > 1)
        {
            var mid = (lo + hi) / 2;
            if (Try(mid).Result.Passed)
            {
                Discard(tried[hi]); // superseded by a try that keeps more layers INT8
                hi = mid;
            }
            else
            {
                lo = mid;
            }
        }
        var chosen = tried[hi];
        return chosen with { Result = chosen.Result with { FallbackSteps = steps } };
    }

    private static void Discard(CompileAttempt attempt)
    {
        try { Directory.Delete(attempt.Folder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static string Describe(FallbackStep step) => string.Create(CultureInfo.InvariantCulture,
        $"step {step.Step}: {step.MovedBack.Count} back ({step.Int8Layers} INT8) gave {ReportNumbers.SignedPercent(step.PerplexityIncreasePct, 3)}, gate {step.FailedGate ?? "none"} failed");

    /// <summary>Riskiest first: predicted risk, else measured increase, else measured here; ties keep layer order.</summary>
    private static IReadOnlyList<LayerDecision> Rank(CompileState s, IReadOnlyList<LayerDecision> movable)
    {
        if (movable.Count > 0 && movable.All(d => d.Evidence.PredictedRisk is not null))
            return movable.OrderByDescending(d => d.Evidence.PredictedRisk!.Value).ToList();
        if (movable.Count > 0 && movable.All(d => d.Evidence.MeasuredIncreasePct is not null))
            return movable.OrderByDescending(d => d.Evidence.MeasuredIncreasePct!.Value).ToList();

        s.Probe ??= SensitivityProbe.Create(s, MeasuredPolicySpec.DefaultProbeTokens);
        var movableNames = movable.Select(d => d.Layer.Name).ToHashSet(StringComparer.Ordinal);
        var context = new PolicyContext(s.Candidates.Where(c => movableNames.Contains(c.Name)).ToList(), s.Fallback, s.Probe,
            CompileStages.Budget(s), new CompileStages.ReporterProgress(s.Reporter));
        var measured = MeasuredPolicy.Sweep(context, s.Probe);
        var byName = context.Candidates.Select((c, i) => (c.Name, M: measured[i])).ToDictionary(x => x.Name, x => x.M, StringComparer.Ordinal);
        return movable.Select(d => (Decision: d, M: byName[d.Layer.Name]))
            .OrderByDescending(m => m.M.IncreasePct)
            .Select(m => m.Decision with { Evidence = m.Decision.Evidence with { MeasuredIncreasePct = m.M.IncreasePct, MeasuredKl = m.M.MeanKl } })
            .ToList();
    }
}

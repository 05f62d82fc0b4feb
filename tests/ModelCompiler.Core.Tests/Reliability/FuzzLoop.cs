using System.Diagnostics;
using System.Globalization;

namespace ModelCompiler.Tests.Reliability;

/// <summary>
/// The loop shared by the fuzzers: runs seeded cases on a worker thread with a big stack, watches each case for a
/// hang, counts outcomes, and writes a one-line summary to MODELC_FUZZ_REPORT when set (<c>bench/fuzz.sh</c>).
/// A case returns its outcome key ("ok", an MC code, …) and a failure text when it broke a rule.
/// </summary>
internal static class FuzzLoop
{
    public static readonly TimeSpan CaseTimeout = TimeSpan.FromSeconds(10);

    /// <summary>MODELC_FUZZ_CASES, or <paramref name="defaultCases"/>.</summary>
    public static int Cases(int defaultCases) =>
        int.TryParse(Environment.GetEnvironmentVariable("MODELC_FUZZ_CASES"), CultureInfo.InvariantCulture, out var n) ? n : defaultCases;

    /// <summary>MODELC_FUZZ_SEED, or 20261201.</summary>
    public static int Seed() =>
        int.TryParse(Environment.GetEnvironmentVariable("MODELC_FUZZ_SEED"), CultureInfo.InvariantCulture, out var s) ? s : 20261201;

    /// <summary>
    /// Runs <paramref name="cases"/> cases: <paramref name="next"/> makes case i's input from the shared random
    /// source, <paramref name="run"/> runs it. Stops after 5 failures. Returns the outcome counts and the summary.
    /// </summary>
    public static (Dictionary<string, int> Counts, string Summary) Run<T>(string name, int cases, int seed,
        Func<Random, int, T> next, Func<T, int, (string Key, string? Failure)> run, Func<T, string> describe)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        var failures = new List<string>();
        var current = 0;
        var caseWatch = new Stopwatch();
        var total = Stopwatch.StartNew();
        // A long run also keeps its counts so far in <report>.progress, in case it is stopped before the end.
        var report = Environment.GetEnvironmentVariable("MODELC_FUZZ_REPORT") is { Length: > 0 } r ? r : null;
        var progress = report is null ? null : report + ".progress";
        var worker = new Thread(() =>
        {
            var rng = new Random(seed);
            for (var i = 0; i < cases && failures.Count < 5; i++)
            {
                Volatile.Write(ref current, i);
                var input = next(rng, i);
                caseWatch.Restart();
                var outcome = run(input, i);
                caseWatch.Stop();
                lock (counts) counts[outcome.Key] = counts.GetValueOrDefault(outcome.Key) + 1;
                if (progress is not null && (i + 1) % 1000 == 0)
                    File.WriteAllText(progress, Summary(name, seed, i + 1, total.Elapsed, counts, failures.Count) + Environment.NewLine);
                if (outcome.Failure is not null)
                    failures.Add($"case {i}: {outcome.Failure}\n--- input ---\n{describe(input)}");
                else if (caseWatch.Elapsed > CaseTimeout)
                    failures.Add($"case {i} took {caseWatch.Elapsed.TotalSeconds:F1} s\n{describe(input)}");
            }
        }, 16 << 20) { IsBackground = true };
        worker.Start();
        while (!worker.Join(TimeSpan.FromSeconds(1)))
            Assert.False(caseWatch.IsRunning && caseWatch.Elapsed > CaseTimeout, $"{name}: case {Volatile.Read(ref current)} hangs (> {CaseTimeout.TotalSeconds} s)");

        var summary = Summary(name, seed, cases, total.Elapsed, counts, failures.Count);
        if (report is not null) File.AppendAllText(report, summary + Environment.NewLine);
        Assert.True(failures.Count == 0, summary + "\n" + string.Join("\n", failures));
        Assert.True(counts.Values.Sum() == cases, summary);
        return (counts, summary);
    }

    private static string Summary(string name, int seed, int cases, TimeSpan elapsed, Dictionary<string, int> counts, int failures)
    {
        lock (counts)
            return $"{name}: seed {seed}, {cases} cases in {elapsed.TotalSeconds:F1} s: "
                + string.Join(", ", counts.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key} {kv.Value}"))
                + $"; failures {failures}";
    }

    /// <summary>An input error (MC1xxx): the outcome key is its code.</summary>
    public static bool IsInputError(ModelCompilerException e) => e.Code.StartsWith("MC1", StringComparison.Ordinal) && e.Code.Length == 6;
}

namespace ModelCompiler.Runtime;

/// <summary>
/// ONNX Runtime intra-op threads for the compile's own sessions (sampling, calibration, probes, validation).
/// Defaults to every core. The outputs do not depend on it: ORT's CPU kernels split work by output rows/blocks and
/// each element keeps one summation order whatever the thread count (tests compile with 1 and several threads and
/// compare the bytes), so the choice is only about speed.
/// </summary>
public static class ComputeThreads
{
    /// <summary>Environment variable that sets the count when no option does (e.g. for the MSBuild build).</summary>
    public const string Variable = "MODELC_THREADS";

    private static int? _count;

    /// <summary>The thread count in use: the last <see cref="Set"/>, else <see cref="Variable"/>, else every core.</summary>
    public static int Count => _count
        ?? (int.TryParse(Environment.GetEnvironmentVariable(Variable), System.Globalization.CultureInfo.InvariantCulture, out var n) && n > 0 ? n : Environment.ProcessorCount);

    public static void Set(int? count)
    {
        if (count is < 1)
            throw new ModelCompilerException("MC1006", $"--threads must be at least 1 (got {count}).");
        _count = count;
    }
}

using System.Diagnostics;
using System.Globalization;

namespace ModelCompiler.Benchmarking;

/// <summary>
/// The process's peak resident set size over an interval. On Linux the kernel's high-water mark (VmHWM) is reset
/// to the current RSS through <c>/proc/self/clear_refs</c>, so the peak of each interval is its own; elsewhere
/// the peak since process start is all the OS offers (<see cref="Process.PeakWorkingSet64"/>).
/// </summary>
public sealed class PeakRss
{
    /// <summary>The peak since the last <see cref="Reset"/> anywhere in the process (or since process start).</summary>
    public PeakRss() { }

    /// <summary>True when <see cref="Reset"/> really restarts the high-water mark (Linux with /proc).</summary>
    public static bool IsResettable { get; } = OperatingSystem.IsLinux() && File.Exists("/proc/self/clear_refs");

    public static PeakRss Reset()
    {
        if (IsResettable)
        {
            try
            {
                File.WriteAllText("/proc/self/clear_refs", "5");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Some sandboxes forbid it; the peak then counts from process start, which only overstates.
            }
        }
        return new PeakRss();
    }

    /// <summary>The highest resident size since <see cref="Reset"/>, in bytes.</summary>
    public long Peak()
    {
        if (OperatingSystem.IsLinux() && ReadStatusKb("VmHWM:") is { } kb) return kb * 1024;
        using var self = Process.GetCurrentProcess();
        return self.PeakWorkingSet64;
    }

    /// <summary>The current resident size in bytes.</summary>
    public static long Current()
    {
        if (OperatingSystem.IsLinux() && ReadStatusKb("VmRSS:") is { } kb) return kb * 1024;
        using var self = Process.GetCurrentProcess();
        return self.WorkingSet64;
    }

    private static long? ReadStatusKb(string key)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(key, StringComparison.Ordinal))
                return long.Parse(line[key.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        return null;
    }
}

using System.Diagnostics;

namespace ModelCompiler.Runtime;

/// <summary>
/// Wall time this process has spent inside ONNX Runtime forward passes (every <see cref="DecoderSession"/> run),
/// so a compile can report how much of its time is the model itself and how much is modelc's own work.
/// </summary>
public static class ForwardTime
{
    private static long _ticks;

    public static TimeSpan Total => TimeSpan.FromSeconds((double)Interlocked.Read(ref _ticks) / Stopwatch.Frequency);

    internal static void Add(long stopwatchTicks) => Interlocked.Add(ref _ticks, stopwatchTicks);
}

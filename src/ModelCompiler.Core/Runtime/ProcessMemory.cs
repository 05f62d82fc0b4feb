using System.Runtime;
using System.Runtime.InteropServices;

namespace ModelCompiler.Runtime;

/// <summary>
/// Gives freed memory back to the OS between the big steps of a compile. A compile reads hundreds of MB of weights
/// into short-lived arrays and creates ORT sessions one after another; without this the GC keeps the dead large
/// arrays and glibc keeps a disposed session's freed chunks, and the next session's weights come on top of both.
/// </summary>
public static partial class ProcessMemory
{
    private static bool _trimUnavailable;

    /// <summary>
    /// A full, compacting collection that also decommits the free heap (<see cref="GCCollectionMode.Aggressive"/>: a
    /// forced collection alone keeps the emptied regions committed, measured as ~1 GB left over from the transform of a
    /// 1 GB model under the next stage's ORT session), then glibc's <c>malloc_trim</c> where present.
    /// </summary>
    public static void Release()
    {
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        if (!OperatingSystem.IsLinux() || _trimUnavailable) return;
        try
        {
            MallocTrim(0);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            _trimUnavailable = true; // not glibc (musl): nothing to trim with
        }
    }

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);
}

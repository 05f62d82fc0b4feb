using System.Diagnostics;
using System.Globalization;
using ModelCompiler.Onnx;

namespace ModelCompiler.IO;

/// <summary>
/// Files staged by one run, committed as one set. Before the first rename every destination is checked (not a
/// directory, a folder we can write, space for what must be copied across devices) and every file is moved to a
/// hidden sibling of its destination. The commit then hides the old record (the manifest), renames the other files
/// into place and renames the new record last: a reader who finds a record finds the files it describes. A failure
/// restores the previous set; a killed run leaves no record, and its hidden files are removed by the next run.
/// </summary>
public sealed class OutputSet
{
    /// <summary>Prefix of every hidden staging folder and file: <c>.modelc-&lt;pid&gt;-…</c>.</summary>
    public const string HiddenPrefix = ".modelc-";
    private readonly List<(string Staged, string Destination)> _files = [];
    private readonly List<string> _removed = [];
    private (string Staged, string Destination)? _record;

    /// <summary>A hidden name beside <paramref name="destinationOrFolder"/> owned by this process.</summary>
    public static string HiddenName(string name) =>
        $"{HiddenPrefix}{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}-{Guid.NewGuid().ToString("N")[..8]}-{name}";

    public void Add(string staged, string destination) => _files.Add((staged, Path.GetFullPath(destination)));

    /// <summary>A file the set replaces with nothing: removed with the commit (before the record), restored on rollback.</summary>
    public void Remove(string destination) => _removed.Add(Path.GetFullPath(destination));

    /// <summary>The file whose presence says the set is complete (the manifest); committed last.</summary>
    public void SetRecord(string staged, string destination) => _record = (staged, Path.GetFullPath(destination));

    public void Commit()
    {
        var all = _record is { } r ? [.. _files, r] : _files.ToList();
        CheckDestinations(all);
        var pending = new List<(string Temp, string Destination)>();
        try
        {
            foreach (var (staged, dest) in all)
            {
                var temp = Path.Combine(Path.GetDirectoryName(dest)!, HiddenName(Path.GetFileName(dest) + ".new"));
                File.Move(staged, temp);
                pending.Add((temp, dest));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            foreach (var (temp, _) in pending) TryDelete(temp);
            throw new ModelCompilerException(PathGuard.BadDestination, $"cannot write the output set: {e.Message}; nothing was changed.", pending.Count < all.Count ? all[pending.Count].Destination : null, inner: e);
        }

        var done = new List<(string Destination, string? Backup)>();
        try
        {
            // The old record goes first: from here until the new record lands, no record pairs with the files.
            var recordBackup = _record is null ? null : Hide(pending[^1].Destination);
            foreach (var (temp, dest) in pending.Take(pending.Count - (_record is null ? 0 : 1)))
            {
                var backup = Hide(dest);
                done.Add((dest, backup));
                File.Move(temp, dest);
            }
            foreach (var dest in _removed)
                if (Hide(dest) is { } backup) done.Add((dest, backup));
            if (_record is not null)
            {
                done.Add((pending[^1].Destination, recordBackup));
                File.Move(pending[^1].Temp, pending[^1].Destination);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Rollback(done, pending);
            throw new ModelCompilerException(PathGuard.BadDestination, $"cannot commit the output set: {e.Message}; the previous outputs were restored.", done.Count > 0 ? done[^1].Destination : null, inner: e);
        }
        foreach (var (_, backup) in done)
            if (backup is not null) TryDelete(backup);
    }

    private static void CheckDestinations(List<(string Staged, string Destination)> all)
    {
        var needed = new Dictionary<string, (string Folder, long Bytes)>(StringComparer.Ordinal);
        foreach (var (staged, dest) in all)
        {
            var folder = Path.GetDirectoryName(dest)!;
            if (FileNode.Stat(dest).Kind == FileKind.Directory)
                throw new ModelCompilerException(PathGuard.BadDestination, "the output path is a directory; give a file path.", dest);
            try { Directory.CreateDirectory(folder); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ModelCompilerException(PathGuard.BadDestination, $"cannot create the output folder: {e.Message}", dest, inner: e);
            }
            var probe = Path.Combine(folder, HiddenName("probe"));
            try { using (File.Create(probe, 1, FileOptions.DeleteOnClose)) { } }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ModelCompilerException(PathGuard.BadDestination, $"the output folder is not writable: {e.Message}", dest, inner: e);
            }
            var (_, stagedId) = FileNode.Stat(staged);
            var (_, folderId) = FileNode.Stat(folder);
            if (stagedId.Device == folderId.Device && stagedId.WindowsPath is null) continue; // a rename: no new space
            var key = folderId.WindowsPath ?? folderId.Device.ToString(CultureInfo.InvariantCulture);
            var size = new FileInfo(staged).Length;
            needed[key] = needed.TryGetValue(key, out var n) ? (n.Folder, n.Bytes + size) : (folder, size);
        }
        foreach (var (folder, bytes) in needed.Values)
        {
            long free;
            try { free = new DriveInfo(folder).AvailableFreeSpace; }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException) { continue; }
            if (free < bytes)
                throw new ModelCompilerException(PathGuard.BadDestination, $"not enough free space: the outputs need {bytes} bytes, {free} are free.", folder);
        }
    }

    /// <summary>Moves an existing destination to a hidden backup; null when there was none.</summary>
    private static string? Hide(string dest)
    {
        if (!File.Exists(dest)) return null;
        var backup = Path.Combine(Path.GetDirectoryName(dest)!, HiddenName(Path.GetFileName(dest) + ".old"));
        File.Move(dest, backup);
        return backup;
    }

    private static void Rollback(List<(string Destination, string? Backup)> done, List<(string Temp, string Destination)> pending)
    {
        for (var i = done.Count - 1; i >= 0; i--)
        {
            var (dest, backup) = done[i];
            try
            {
                if (File.Exists(dest) && backup is not null) File.Move(backup, dest, overwrite: true);
                else if (backup is not null) File.Move(backup, dest);
                else TryDelete(dest);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        foreach (var (temp, _) in pending) TryDelete(temp);
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>
    /// Removes hidden staging folders and files in <paramref name="folder"/> left by runs that no longer exist
    /// (killed mid-run); those of live processes (a concurrent run) are kept.
    /// </summary>
    public static int RemoveStale(string folder)
    {
        if (!Directory.Exists(folder)) return 0;
        var removed = 0;
        foreach (var entry in Directory.EnumerateFileSystemEntries(folder, HiddenPrefix + "*"))
        {
            var name = Path.GetFileName(entry)[HiddenPrefix.Length..];
            var dash = name.IndexOf('-', StringComparison.Ordinal);
            if (dash <= 0 || !int.TryParse(name[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) continue;
            if (pid == Environment.ProcessId || IsAlive(pid)) continue;
            try
            {
                if (Directory.Exists(entry)) Directory.Delete(entry, recursive: true);
                else File.Delete(entry);
                removed++;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        return removed;
    }

    /// <summary>The outermost folder of <paramref name="folder"/> that does not exist yet (a run is about to create it), or null.</summary>
    public static string? OutermostMissingFolder(string folder)
    {
        string? top = null;
        for (var dir = folder; dir is not null && !Directory.Exists(dir); dir = Path.GetDirectoryName(dir)) top = dir;
        return top;
    }

    /// <summary>After a failed run: removes the folders it created (up to <paramref name="created"/>) while they are empty, innermost first.</summary>
    public static void RemoveCreatedFolders(string folder, string created)
    {
        for (var dir = folder; dir is not null && Directory.Exists(dir) && !Directory.EnumerateFileSystemEntries(dir).Any(); dir = Path.GetDirectoryName(dir))
        {
            try { Directory.Delete(dir); } catch (IOException) { break; } catch (UnauthorizedAccessException) { break; }
            if (dir == created) break;
        }
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }
}

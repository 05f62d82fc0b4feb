using ModelCompiler.Onnx;

namespace ModelCompiler.IO;

/// <summary>
/// Checks made before any work: every input is a regular file (a FIFO or device would block or never end), every
/// output path is non-empty and not a directory, and no output is the same file as an input or another output, by
/// file identity (device + inode, through symlinks and hard links), not by spelling.
/// </summary>
public static class PathGuard
{
    /// <summary>An output path is the same file as an input or as another output.</summary>
    public const string Clash = "MC1007";
    /// <summary>An input is a directory, FIFO, socket or device.</summary>
    public const string NotRegularFile = "MC1070";
    /// <summary>An output path is empty.</summary>
    public const string EmptyPath = "MC1071";
    /// <summary>An output destination cannot take its file (a directory, a read-only folder, not enough space).</summary>
    public const string BadDestination = "MC1072";

    /// <summary>Rejects an input that exists and is not a regular file; a missing one is left to the reader's own error.</summary>
    public static void RequireRegularInput(string? path, string role)
    {
        if (string.IsNullOrEmpty(path)) return;
        var (kind, _) = FileNode.Stat(path);
        if (kind is FileKind.Directory or FileKind.Other)
            throw new ModelCompilerException(NotRegularFile,
                $"the {role} is {(kind == FileKind.Directory ? "a directory" : "not a regular file (a FIFO, socket or device)")}; give a file.", Path.GetFullPath(path));
    }

    /// <summary>The full path of an output option, or MC1071 when it is empty.</summary>
    public static string RequireOutputPath(string? path, string option)
    {
        if (string.IsNullOrWhiteSpace(path))
            throw new ModelCompilerException(EmptyPath, $"{option} is empty; give a file path.");
        return Path.GetFullPath(path);
    }

    /// <summary>
    /// MC1007 when an output is the same file as an input or another output; MC1072 when an output is a directory.
    /// Inputs that do not exist are skipped (their reader reports them).
    /// </summary>
    public static void RequireDisjoint(IEnumerable<(string Role, string Path)> inputs, IEnumerable<(string Role, string Path)> outputs)
    {
        var seen = new Dictionary<string, (string Role, string Path, bool Input)>(StringComparer.Ordinal);
        foreach (var (role, path) in inputs)
        {
            var (kind, id) = FileNode.Stat(path);
            if (kind == FileKind.Missing) continue;
            seen.TryAdd(Key(id), (role, Path.GetFullPath(path), true));
        }
        foreach (var (role, path) in outputs)
        {
            var full = Path.GetFullPath(path);
            var (kind, id) = FileNode.Stat(full);
            if (kind == FileKind.Directory)
                throw new ModelCompilerException(BadDestination, $"the {role} is a directory; give a file path.", full);
            for (var up = Path.GetDirectoryName(full); kind == FileKind.Missing && up is not null; up = Path.GetDirectoryName(up))
            {
                var upKind = FileNode.Stat(up).Kind;
                if (upKind == FileKind.Directory) break;
                if (upKind != FileKind.Missing)
                    throw new ModelCompilerException(BadDestination, $"the {role} cannot be written: {up} is a file, not a folder.", full);
            }
            var key = kind == FileKind.Missing ? MissingKey(full) : Key(id);
            if (seen.TryGetValue(key, out var other))
                throw new ModelCompilerException(Clash, other.Input
                    ? $"the {role} {full} is the same file as the {other.Role} {other.Path}; modelc never overwrites its input."
                    : $"the {role} {full} is the same file as the {other.Role} {other.Path}; give each output its own path.", full);
            seen.Add(key, (role, full, false));
        }
    }

    private static string Key(FileId id) => id.WindowsPath ?? $"{id.Device}:{id.Inode}";

    /// <summary>A file that does not exist yet: its folder's identity (or real path) and its name.</summary>
    private static string MissingKey(string full)
    {
        var dir = Path.GetDirectoryName(full)!;
        var name = Path.GetFileName(full);
        if (OperatingSystem.IsWindows()) name = name.ToUpperInvariant();
        var (kind, id) = FileNode.Stat(dir);
        return kind == FileKind.Missing ? "new:" + FileNode.RealPath(dir) + "/" + name : "in:" + Key(id) + "/" + name;
    }
}

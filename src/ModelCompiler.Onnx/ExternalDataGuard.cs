namespace ModelCompiler.Onnx;

/// <summary>
/// Where an external data file really is. The location is resolved through every symlink and accepted only inside
/// the model's folder or inside the <c>blobs/</c> folder of the same Hugging Face cache repository (the cache stores
/// <c>models--org--name/snapshots/&lt;rev&gt;/f</c> as a symlink to <c>models--org--name/blobs/&lt;hash&gt;</c>); the file
/// must be a regular file, and the caller reads it through the real path returned here, the one checked.
/// </summary>
public static class ExternalDataGuard
{
    /// <summary>The real path to read; the lexical path unchanged when it does not exist (the caller reports that).</summary>
    public static string RealPathToRead(string lexicalPath, string modelDir, string location, string tensorName, string modelPath)
    {
        if (FileNode.Stat(lexicalPath).Kind == FileKind.Missing && !IsLink(lexicalPath)) return lexicalPath;
        var real = FileNode.RealPath(lexicalPath);
        var realDir = FileNode.RealPath(modelDir);
        if (!IsInside(real, realDir) && !(HuggingFaceBlobs(realDir) is { } blobs && IsInside(real, blobs)))
            throw new ModelCompilerException("MC1004",
                $"external data location '{location}' of tensor '{tensorName}' is a link to {real}, outside the model's folder (and not a Hugging Face cache blob of the same repository). Refusing to read it.", modelPath);
        var kind = FileNode.Stat(real).Kind;
        if (kind != FileKind.Regular)
            throw new ModelCompilerException("MC1004",
                $"external data location '{location}' of tensor '{tensorName}' is {(kind == FileKind.Missing ? "a dangling link" : "not a regular file")}. Refusing to read it.", modelPath);
        return real;
    }

    /// <summary>For a folder under <c>…/models--org--name/snapshots/&lt;rev&gt;/</c>: <c>…/models--org--name/blobs</c>; else null.</summary>
    public static string? HuggingFaceBlobs(string realDir)
    {
        for (var dir = realDir; Path.GetDirectoryName(dir) is { } parent; dir = parent)
        {
            if (Path.GetFileName(parent) != "snapshots") continue;
            var repo = Path.GetDirectoryName(parent);
            var name = repo is null ? "" : Path.GetFileName(repo);
            if (name.StartsWith("models--", StringComparison.Ordinal) || name.StartsWith("datasets--", StringComparison.Ordinal))
                return Path.Combine(repo!, "blobs");
        }
        return null;
    }

    private static bool IsLink(string path) => new FileInfo(path).LinkTarget is not null;

    private static bool IsInside(string path, string folder)
    {
        var root = folder.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
        return path.StartsWith(root, OperatingSystem.IsLinux() ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase);
    }
}

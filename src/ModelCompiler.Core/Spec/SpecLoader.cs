namespace ModelCompiler.Spec;

/// <summary>
/// Reads a quantization spec (YAML) into a <see cref="QuantizationSpec"/>.
/// Errors are <see cref="ModelCompilerException"/>s with codes MC1100-MC1149 (see <see cref="SpecCodes"/>) that name
/// the file, line and column; warnings (MC1150-MC1199) come back in <see cref="SpecLoadResult.Warnings"/>.
/// </summary>
/// <remarks>
/// Rules beyond the keys' types: <c>calibration</c> is required and has exactly one of <c>text</c> or <c>generated</c>;
/// <c>evaluation</c> is optional (absent: generated tokens with calibration's seed + 1); a key whose value is null
/// (empty, <c>~</c>, <c>null</c>) counts as absent, except that <c>generated:</c> alone means generated with defaults;
/// names of targets, precisions, providers and policy kinds match case-insensitively; keys match exactly.
/// </remarks>
public static class SpecLoader
{
    /// <summary>Reads the spec file at <paramref name="path"/>; relative paths in it are resolved against its folder and must exist.</summary>
    public static SpecLoadResult Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var fullPath = Path.GetFullPath(path);
        if (Directory.Exists(fullPath))
        {
            throw new ModelCompilerException(SpecCodes.SpecFileNotFound,
                $"the spec path '{fullPath}' is a folder; name the .yaml spec file in it", fullPath);
        }

        string text;
        try
        {
            text = ReadBounded(fullPath);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ModelCompilerException(SpecCodes.SpecFileNotFound,
                $"spec file not found: '{fullPath}'; check the spec path (--spec, or the Spec metadata of the QuantizedModel item)", fullPath, inner: ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ModelCompilerException(SpecCodes.SpecFileNotFound,
                $"cannot read the spec file '{fullPath}': {ex.Message}", fullPath, inner: ex);
        }

        return Parse(text, fullPath, Path.GetDirectoryName(fullPath)!);
    }

    /// <summary>The largest spec file read (a real spec is a few kilobytes); a larger file or an endless device is MC1125.</summary>
    public const int MaxSpecBytes = 1 << 20;

    // Reads at most MaxSpecBytes + 1 bytes, so that '/dev/zero' or a huge file cannot exhaust memory; decodes as
    // File.ReadAllText does (UTF-8 unless a byte-order mark says otherwise).
    private static string ReadBounded(string fullPath)
    {
        using var stream = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        var buffer = new byte[MaxSpecBytes + 1];
        var length = 0;
        int read;
        while (length < buffer.Length && (read = stream.Read(buffer, length, buffer.Length - length)) > 0)
        {
            length += read;
        }

        if (length > MaxSpecBytes)
        {
            throw new ModelCompilerException(SpecCodes.SpecTooLarge,
                $"the spec file is larger than {MaxSpecBytes / (1 << 20)} MiB (or is a device that never ends); a spec is a small YAML file, name the right one", fullPath);
        }

        using var reader = new StreamReader(new MemoryStream(buffer, 0, length), System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return reader.ReadToEnd();
    }

    /// <summary>
    /// Reads spec text as if it came from <paramref name="fileName"/> (the name diagnostics use), resolving relative
    /// paths against <paramref name="baseDirectory"/>. With <paramref name="checkFiles"/> false, named files need not exist
    /// and text contents are not compared.
    /// </summary>
    public static SpecLoadResult Parse(string yamlText, string fileName, string baseDirectory, bool checkFiles = true)
    {
        ArgumentNullException.ThrowIfNull(yamlText);
        ArgumentException.ThrowIfNullOrEmpty(fileName);
        ArgumentException.ThrowIfNullOrEmpty(baseDirectory);
        return new SpecParser(fileName, Path.GetFullPath(baseDirectory), checkFiles).Parse(yamlText);
    }
}

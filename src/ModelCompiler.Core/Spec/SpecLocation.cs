using System.Globalization;

namespace ModelCompiler.Spec;

/// <summary>
/// Where something is written in a spec file: 1-based <paramref name="Line"/> and <paramref name="Column"/>,
/// both 0 when the thing was not written at all (a default), in which case only the file is named.
/// Later stages keep these so that a missed gate can point at the gate's own line.
/// </summary>
public sealed record SpecLocation(string File, int Line, int Column)
{
    /// <summary>A location that names only the file (for defaults and whole-file problems).</summary>
    public static SpecLocation InFile(string file) => new(file, 0, 0);

    /// <summary>True when the location names a line and column, not just the file.</summary>
    public bool HasPosition => Line > 0;

    /// <summary>An error at this location, e.g. <c>spec.yaml(12,5): error MC2001: ...</c>.</summary>
    public ModelCompilerException Error(string code, string message, Exception? inner = null) =>
        new(code, message, File, Line, Column, inner);

    /// <summary><c>file(line,col)</c>, or just <c>file</c> when there is no position.</summary>
    public override string ToString() => HasPosition ? $"{File}({Line},{Column})" : File;
}

/// <summary>
/// A value from the spec together with where it was written. When the key was absent,
/// <see cref="IsDefault"/> is true and <see cref="Location"/> points at the nearest enclosing
/// thing that was written (the section's key), or at the file alone.
/// </summary>
public sealed record SpecValue<T>(T Value, SpecLocation Location, bool IsDefault = false)
    where T : notnull
{
    public override string ToString() => Convert.ToString(Value, CultureInfo.InvariantCulture) ?? "";
}

/// <summary>
/// A file named in the spec: <see cref="FullPath"/> is resolved against the spec file's folder;
/// <see cref="AsWritten"/> is the text in the spec (for messages); <see cref="Location"/> is where it is written.
/// </summary>
public sealed record SpecFile(string FullPath, string AsWritten, SpecLocation Location);

/// <summary>A warning found while reading a spec (the spec is still usable).</summary>
public sealed record SpecDiagnostic(string Code, string Message, SpecLocation Location)
{
    /// <summary>The canonical one-line form, e.g. <c>spec.yaml(9,9): warning MC1150: ...</c>.</summary>
    public string ToDiagnosticString(string severity = "warning") => $"{Location}: {severity} {Code}: {Message}";
}

namespace ModelCompiler;

/// <summary>
/// An error a user can act on: it carries a stable code (MC1xxx input, MC2xxx gates, MC3xxx runtime,
/// MC4xxx generator), the file it is about and, where known, a line and column in that file.
/// The CLI prints it as <c>file(line,col): error CODE: message</c>, the form MSBuild understands.
/// </summary>
public class ModelCompilerException : Exception
{
    /// <summary>An error with its code, message and, where known, the file, line and column it is about.</summary>
    public ModelCompilerException(string code, string message, string? file = null, int line = 0, int column = 0, Exception? inner = null)
        : base(message, inner)
    {
        Code = code;
        File = file;
        Line = line;
        Column = column;
    }

    /// <summary>The stable code, e.g. <c>MC1020</c>.</summary>
    public string Code { get; }
    /// <summary>The file the error is about, or null.</summary>
    public string? File { get; }
    /// <summary>1-based line in <see cref="File"/>, or 0.</summary>
    public int Line { get; }
    /// <summary>1-based column in <see cref="File"/>, or 0.</summary>
    public int Column { get; }

    /// <summary>The canonical one-line form, e.g. <c>spec.yaml(12,5): error MC1101: unknown key 'polcy'</c>.</summary>
    public string ToDiagnosticString(string severity = "error")
    {
        var where = File is null ? "modelc" : Line > 0 ? $"{File}({Line},{Math.Max(Column, 1)})" : File;
        return $"{where}: {severity} {Code}: {Message}";
    }
}

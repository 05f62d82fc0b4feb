using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace ModelCompiler.Generator.Model
{
    /// <summary>
    /// A diagnostic as plain data: the pipeline caches by value, so it carries the rule id, a file path and
    /// line/column numbers, and builds the <see cref="Location"/> only when the diagnostic is reported.
    /// </summary>
    internal sealed record DiagnosticInfo(
        string Id,
        string? FilePath,
        int Offset,
        int Length,
        int Line,
        int Column,
        EquatableArray<string> Arguments)
    {
        public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, string? filePath, int offset, int length, int line, int column, params string[] arguments)
            => new DiagnosticInfo(descriptor.Id, filePath, offset, length, line, column, arguments.ToEquatableArray());

        /// <summary>A diagnostic at the start of a file (for problems with the file as a whole).</summary>
        public static DiagnosticInfo AtFile(DiagnosticDescriptor descriptor, string? filePath, params string[] arguments)
            => Create(descriptor, filePath, 0, 0, 0, 0, arguments);

        public Diagnostic ToDiagnostic()
        {
            var descriptor = DiagnosticDescriptors.ById(Id);
            var location = string.IsNullOrEmpty(FilePath)
                ? Location.None
                : Location.Create(
                    FilePath!,
                    new TextSpan(Offset, Length),
                    new LinePositionSpan(new LinePosition(Line, Column), new LinePosition(Line, Column + Length)));
            var arguments = new object[Arguments.Count];
            for (int i = 0; i < arguments.Length; i++)
            {
                arguments[i] = Arguments[i];
            }

            return Diagnostic.Create(descriptor, location, arguments);
        }
    }
}

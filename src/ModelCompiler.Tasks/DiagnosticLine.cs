using System;
using System.Text.RegularExpressions;

namespace ModelCompiler.Tasks
{
    /// <summary>
    /// One line of modelc's stderr in MSBuild's canonical form:
    /// <c>origin(line,col): [subcategory ]error|warning CODE: text</c>, where origin is a file or the tool's name
    /// (<c>modelc: error MC3001: ...</c>). Anything else (progress lines) is not a diagnostic.
    /// </summary>
    internal sealed class DiagnosticLine
    {
        // Lazy origin so "C:\x\spec.yaml(3,1): error" keeps the drive letter; the position is (l), (l,c) or (l,c,el,ec).
        private static readonly Regex Pattern = new Regex(
            @"^\s*(?<origin>.*?)\s*(?:\((?<line>\d+)(?:,(?<col>\d+)(?:,(?<endLine>\d+),(?<endCol>\d+))?)?\))?\s*:\s*" +
            @"(?:(?<sub>[^:]*?)\s+)?(?<category>error|warning)\s+(?<code>[A-Za-z]+\d+)\s*:\s*(?<text>.*?)\s*$",
            RegexOptions.CultureInvariant | RegexOptions.IgnoreCase,
            TimeSpan.FromSeconds(1));

        private DiagnosticLine(string? file, int line, int column, int endLine, int endColumn, string? subcategory, bool isError, string code, string message)
        {
            File = file;
            Line = line;
            Column = column;
            EndLine = endLine;
            EndColumn = endColumn;
            Subcategory = subcategory;
            IsError = isError;
            Code = code;
            Message = message;
        }

        /// <summary>The file the diagnostic is about; the tool's name ("modelc") when it names no file.</summary>
        public string? File { get; }

        public int Line { get; }

        public int Column { get; }

        public int EndLine { get; }

        public int EndColumn { get; }

        public string? Subcategory { get; }

        public bool IsError { get; }

        public string Code { get; }

        public string Message { get; }

        /// <summary>MC2xxx: a quality gate in the spec was missed.</summary>
        public bool IsGate => Code.Length == 6 && Code.StartsWith("MC2", StringComparison.OrdinalIgnoreCase);

        public static DiagnosticLine? TryParse(string text)
        {
            if (string.IsNullOrWhiteSpace(text))
            {
                return null;
            }

            Match match;
            try
            {
                match = Pattern.Match(text);
            }
            catch (RegexMatchTimeoutException)
            {
                return null;
            }

            if (!match.Success || match.Groups["origin"].Value.Length == 0)
            {
                return null;
            }

            var sub = match.Groups["sub"].Success ? match.Groups["sub"].Value.Trim() : "";
            return new DiagnosticLine(
                match.Groups["origin"].Value,
                Number(match.Groups["line"]),
                Number(match.Groups["col"]),
                Number(match.Groups["endLine"]),
                Number(match.Groups["endCol"]),
                sub.Length == 0 ? null : sub,
                string.Equals(match.Groups["category"].Value, "error", StringComparison.OrdinalIgnoreCase),
                match.Groups["code"].Value.ToUpperInvariant(),
                match.Groups["text"].Value);
        }

        private static int Number(Group group) =>
            group.Success && int.TryParse(group.Value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : 0;
    }
}

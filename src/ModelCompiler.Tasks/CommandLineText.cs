using System.Collections.Generic;
using System.Linq;
using System.Text;

namespace ModelCompiler.Tasks
{
    /// <summary>How modelc's arguments are written: into its response file, and as a command line a person can paste.</summary>
    internal static class CommandLineText
    {
        /// <summary>
        /// One argument per line, as System.CommandLine reads a response file: it splits each line at white space
        /// outside double quotes and drops the quotes, and skips lines that start with '#'.
        /// So an argument with white space, a leading '#' or '@', or no text is wrapped in double quotes.
        /// An argument holding a double quote cannot be written (the caller checks <see cref="CanWriteToResponseFile"/>).
        /// </summary>
        public static string ToResponseFile(IEnumerable<string> arguments)
        {
            var text = new StringBuilder();
            foreach (var argument in arguments)
            {
                var quote = argument.Length == 0 || argument[0] == '#' || argument[0] == '@' || argument.Any(char.IsWhiteSpace);
                text.Append(quote ? "\"" + argument + "\"" : argument).Append('\n');
            }

            return text.ToString();
        }

        public static bool CanWriteToResponseFile(string argument) => argument.IndexOf('"') < 0;

        /// <summary>The command as one line for the build log, quoted for the shell of this machine.</summary>
        public static string ToDisplay(IEnumerable<string> command, bool windows) =>
            string.Join(" ", command.Select(a => windows ? QuoteWindows(a) : QuotePosix(a)));

        // POSIX shells: single quotes keep everything literal; a single quote itself becomes '\''.
        private static string QuotePosix(string argument)
        {
            if (argument.Length > 0 && argument.All(c => char.IsLetterOrDigit(c) || "-_./=:,+@%".IndexOf(c) >= 0))
            {
                return argument;
            }

            return "'" + argument.Replace("'", "'\\''") + "'";
        }

        // cmd.exe and CommandLineToArgvW: double quotes, with embedded quotes doubled backslash-escaped.
        private static string QuoteWindows(string argument)
        {
            if (argument.Length > 0 && argument.All(c => !char.IsWhiteSpace(c) && "\"&|<>^()%!".IndexOf(c) < 0))
            {
                return argument;
            }

            return "\"" + argument.Replace("\"", "\\\"") + "\"";
        }
    }
}

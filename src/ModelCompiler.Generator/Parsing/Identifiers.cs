using System.Collections.Generic;
using System.Globalization;
using System.Text;
using Microsoft.CodeAnalysis.CSharp;

namespace ModelCompiler.Generator.Parsing
{
    /// <summary>Turns tensor and file names into C# identifiers.</summary>
    internal static class Identifiers
    {
        /// <summary>
        /// PascalCase from the letter/digit runs of a name: <c>input_ids</c> → <c>InputIds</c>,
        /// <c>past_key_values.0.key</c> → <c>PastKeyValues0Key</c>, <c>stories260K.q</c> → <c>Stories260KQ</c>.
        /// A leading digit gets an underscore in front; an empty result stays empty.
        /// </summary>
        public static string ToPascalCase(string name)
        {
            var builder = new StringBuilder(name.Length);
            bool startOfWord = true;
            foreach (char c in name)
            {
                if (!char.IsLetterOrDigit(c))
                {
                    startOfWord = true;
                    continue;
                }

                builder.Append(startOfWord ? char.ToUpperInvariant(c) : c);
                startOfWord = false;
            }

            if (builder.Length > 0 && char.IsDigit(builder[0]))
            {
                builder.Insert(0, '_');
            }

            string result = builder.ToString();
            return result.Length == 0 || SyntaxFacts.IsValidIdentifier(result) ? result : string.Empty;
        }

        /// <summary>Prefixes '@' to a keyword so that it can be used as an identifier.</summary>
        public static string Escape(string identifier)
            => SyntaxFacts.GetKeywordKind(identifier) != SyntaxKind.None ? "@" + identifier : identifier;

        /// <summary>
        /// Checks a user-written identifier (optionally '@'-prefixed) and returns it escaped for C#,
        /// or null when it is not a valid identifier.
        /// </summary>
        public static string? NormalizeUserIdentifier(string text)
        {
            string bare = text.StartsWith("@", System.StringComparison.Ordinal) ? text.Substring(1) : text;
            return bare.Length > 0 && SyntaxFacts.IsValidIdentifier(bare) ? Escape(bare) : null;
        }

        /// <summary>The identifier without its '@' escape, as it appears in metadata names and hint names.</summary>
        public static string Unescape(string identifier)
            => identifier.StartsWith("@", System.StringComparison.Ordinal) ? identifier.Substring(1) : identifier;
    }

    /// <summary>Hands out member names within one type: a name already taken gets a suffix _2, _3, ...</summary>
    internal sealed class NameAllocator
    {
        private readonly HashSet<string> _taken = new HashSet<string>(System.StringComparer.Ordinal);

        public NameAllocator(IEnumerable<string> reserved)
        {
            foreach (var name in reserved)
            {
                _taken.Add(name);
            }
        }

        public string Allocate(string name)
        {
            string candidate = name;
            for (int suffix = 2; !_taken.Add(candidate); suffix++)
            {
                candidate = name + "_" + suffix.ToString(CultureInfo.InvariantCulture);
            }

            return candidate;
        }
    }
}

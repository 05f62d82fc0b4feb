using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;

namespace ModelCompiler.Tasks
{
    /// <summary>C# names derived from file names.</summary>
    internal static class Identifiers
    {
        private static readonly HashSet<string> Keywords = new HashSet<string>(StringComparer.Ordinal)
        {
            "abstract", "as", "base", "bool", "break", "byte", "case", "catch", "char", "checked", "class", "const", "continue",
            "decimal", "default", "delegate", "do", "double", "else", "enum", "event", "explicit", "extern", "false", "finally",
            "fixed", "float", "for", "foreach", "goto", "if", "implicit", "in", "int", "interface", "internal", "is", "lock",
            "long", "namespace", "new", "null", "object", "operator", "out", "override", "params", "private", "protected",
            "public", "readonly", "ref", "return", "sbyte", "sealed", "short", "sizeof", "stackalloc", "static", "string",
            "struct", "switch", "this", "throw", "true", "try", "typeof", "uint", "ulong", "unchecked", "unsafe", "ushort",
            "using", "virtual", "void", "volatile", "while",
        };

        /// <summary>A plain C# identifier: a letter or '_' first, then letters, digits and '_', and not a keyword.</summary>
        public static bool IsValid(string name) =>
            name.Length > 0 && (char.IsLetter(name[0]) || name[0] == '_')
            && name.All(c => char.IsLetterOrDigit(c) || c == '_') && !Keywords.Contains(name);

        /// <summary>
        /// "stories260K" → "Stories260K", "tiny-llama_v2.int8" → "TinyLlamaV2Int8": letters and digits kept,
        /// every other character a word break, each word's first letter upper-cased; "_" first when it would start with a digit.
        /// </summary>
        public static string ToPascalCase(string name)
        {
            var result = new StringBuilder(name.Length + 1);
            var startOfWord = true;
            foreach (var c in name)
            {
                if (!char.IsLetterOrDigit(c))
                {
                    startOfWord = true;
                    continue;
                }

                result.Append(startOfWord ? char.ToUpperInvariant(c) : c);
                startOfWord = false;
            }

            if (result.Length == 0)
            {
                return "Model";
            }

            return char.IsDigit(result[0]) ? "_" + result : result.ToString();
        }
    }
}

using System.Text;

namespace ModelCompiler.Tasks
{
    /// <summary>C# names derived from file names.</summary>
    internal static class Identifiers
    {
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

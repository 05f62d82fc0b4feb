namespace ModelCompiler.Spec;

/// <summary>
/// Globs over layer names such as <c>model.layers.3.mlp.down_proj</c>: <c>*</c> matches any run of characters
/// (dots included, so <c>*.down_proj</c> matches every layer's down_proj), <c>?</c> matches exactly one character,
/// everything else matches itself (ordinal, case-sensitive). The whole name must match.
/// </summary>
public static class LayerGlob
{
    /// <summary>True when <paramref name="pattern"/> matches all of <paramref name="name"/>.</summary>
    public static bool IsMatch(string pattern, string name)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        ArgumentNullException.ThrowIfNull(name);

        // Greedy match that backtracks only to the last '*': linear in practice, no regex, no exponential cases.
        int p = 0, n = 0, starP = -1, starN = 0;
        while (n < name.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || (pattern[p] != '*' && pattern[p] == name[n])))
            {
                p++;
                n++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                starP = p++;
                starN = n;
            }
            else if (starP >= 0)
            {
                p = starP + 1;
                n = ++starN;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }

    /// <summary>True when any of <paramref name="patterns"/> matches <paramref name="name"/>.</summary>
    public static bool IsMatchAny(IEnumerable<string> patterns, string name) => patterns.Any(p => IsMatch(p, name));
}

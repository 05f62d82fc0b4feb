namespace ModelCompiler.Spec;

/// <summary>"Did you mean ...?" for misspelled keys and values.</summary>
internal static class Suggestions
{
    /// <summary>
    /// The candidate closest to <paramref name="given"/> within <paramref name="maxDistance"/> edits (case-insensitive,
    /// first wins ties); failing that, the closest candidate that <paramref name="given"/> starts or ends a prefix of
    /// (e.g. 'max_perplexity_increase' for 'max_perplexity_increase_pct').
    /// </summary>
    public static string? Closest(string given, IEnumerable<string> candidates, int maxDistance = 2)
    {
        var lower = given.ToLowerInvariant();
        var scored = candidates.Select(c => (Name: c, Lower: c.ToLowerInvariant())).Select(c => (c.Name, c.Lower, Distance: Distance(lower, c.Lower))).ToArray();
        var close = scored.Where(c => c.Distance <= maxDistance);
        var prefixed = scored.Where(c => Math.Min(lower.Length, c.Lower.Length) >= 4 && (c.Lower.StartsWith(lower, StringComparison.Ordinal) || lower.StartsWith(c.Lower, StringComparison.Ordinal)));
        var best = close.Any() ? close : prefixed;
        return best.Any() ? best.MinBy(c => c.Distance).Name : null;
    }

    /// <summary>Edit distance counting insertions, deletions, substitutions and swaps of neighbours (optimal string alignment).</summary>
    public static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }

    /// <summary>"a", "a or b", "a, b or c", each quoted.</summary>
    public static string OneOf(IReadOnlyList<string> names) => names.Count switch
    {
        0 => "",
        1 => $"'{names[0]}'",
        _ => string.Join(", ", names.Take(names.Count - 1).Select(n => $"'{n}'")) + $" or '{names[^1]}'",
    };
}

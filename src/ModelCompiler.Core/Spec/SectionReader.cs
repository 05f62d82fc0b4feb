namespace ModelCompiler.Spec;

/// <summary>
/// One mapping of a spec (the top level or a section) checked against the keys valid there:
/// an unknown key (with a did-you-mean hint) or a duplicate key is an error in document order.
/// A key whose value is null (empty, <c>~</c>, <c>null</c>) reads as absent through <see cref="Value"/>.
/// </summary>
internal sealed class SectionReader
{
    private readonly Dictionary<string, KeyValuePair<YScalar, YNode>> _entries = new(StringComparer.Ordinal);

    public SectionReader(YMapping mapping, string path, SpecLocation location, IReadOnlyList<string> validKeys)
    {
        Path = path;
        Location = location;
        foreach (var entry in mapping.Entries)
        {
            var key = entry.Key.Value;
            if (!validKeys.Contains(key, StringComparer.Ordinal))
            {
                throw entry.Key.Location.Error(SpecCodes.UnknownKey, UnknownKeyMessage(key, validKeys));
            }

            if (_entries.TryGetValue(key, out var first))
            {
                throw entry.Key.Location.Error(SpecCodes.DuplicateKey,
                    $"'{Qualify(key)}' is given twice (first at line {first.Key.Location.Line}); keep one of them");
            }

            _entries.Add(key, entry);
        }
    }

    /// <summary>The dotted path of this section, "" for the top level.</summary>
    public string Path { get; }

    /// <summary>Where the section's key is written (or the file alone for the top level).</summary>
    public SpecLocation Location { get; }

    /// <summary>The keys written in this section whose values are not null, in document order.</summary>
    public IEnumerable<YScalar> PresentKeys =>
        _entries.Values.Where(e => e.Value is not YScalar { IsNull: true }).Select(e => e.Key);

    /// <summary>True when <paramref name="key"/> is written, even with a null value.</summary>
    public bool HasKey(string key) => _entries.ContainsKey(key);

    /// <summary>The key node of <paramref name="key"/>, or null when it is not written.</summary>
    public YScalar? KeyNode(string key) => _entries.TryGetValue(key, out var e) ? e.Key : null;

    /// <summary>The value of <paramref name="key"/>, or null when it is not written or null.</summary>
    public YNode? Value(string key) =>
        _entries.TryGetValue(key, out var e) && e.Value is not YScalar { IsNull: true } ? e.Value : null;

    /// <summary><paramref name="key"/> with this section's path in front, e.g. <c>calibration.context</c>.</summary>
    public string Qualify(string key) => Path.Length == 0 ? key : $"{Path}.{key}";

    private string UnknownKeyMessage(string key, IReadOnlyList<string> validKeys)
    {
        var where = Path.Length == 0 ? "at the top level" : $"in '{Path}'";
        var message = $"unknown key '{key}' {where}";
        var suggestion = Suggestions.Closest(key, validKeys);
        if (suggestion is not null)
        {
            message += $"; did you mean '{suggestion}'?";
        }
        else if (SpecKeys.SectionsWith(key) is { Count: > 0 } sections)
        {
            message += sections.Contains("")
                ? "; it is a top-level key: check its indentation"
                : $"; it belongs under {Suggestions.OneOf(sections)}";
        }

        // After a question the list starts a new sentence; otherwise it continues this one.
        return message + (suggestion is null ? "; valid keys here: " : " Valid keys here: ") + string.Join(", ", validKeys);
    }
}

using System.Text.RegularExpressions;
using ModelCompiler.Tests;

namespace ModelCompiler.Cli.Tests;

/// <summary>docs/errors.md lists exactly the MC codes the source tree can emit, so the catalogue cannot drift.</summary>
public sealed partial class ErrorCatalogueTests
{
    [GeneratedRegex(@"MC\d{4}")]
    private static partial Regex Code();

    // A row of the catalogue: "| MC1234 | cause | fix |".
    [GeneratedRegex(@"^\|\s*(MC\d{4})\s*\|", RegexOptions.Multiline)]
    private static partial Regex Row();

    private static string Catalogue => Path.Combine(TestPaths.RepoRoot, "docs", "errors.md");

    /// <summary>
    /// Codes in src/ and build/ (C#, targets, props), leaving out bin/obj and comment-only lines: doc comments name
    /// ranges ("MC1100-MC1149") that no diagnostic uses.
    /// </summary>
    private static SortedDictionary<string, string> SourceCodes()
    {
        var codes = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var files = new[] { "src", "build" }
            .Select(d => Path.Combine(TestPaths.RepoRoot, d))
            .Where(Directory.Exists)
            .SelectMany(d => Directory.EnumerateFiles(d, "*", SearchOption.AllDirectories))
            .Where(f => f.EndsWith(".cs", StringComparison.Ordinal) || f.EndsWith(".targets", StringComparison.Ordinal) || f.EndsWith(".props", StringComparison.Ordinal))
            .Where(f => !f.Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj"));
        foreach (var file in files)
        {
            var lines = File.ReadAllLines(file);
            for (var i = 0; i < lines.Length; i++)
            {
                if (lines[i].TrimStart().StartsWith("//", StringComparison.Ordinal)) continue;
                foreach (Match m in Code().Matches(lines[i]))
                    codes.TryAdd(m.Value, $"{Path.GetRelativePath(TestPaths.RepoRoot, file)}:{i + 1}");
            }
        }
        return codes;
    }

    [Fact]
    public void Every_code_in_the_source_has_a_row_in_docs_errors_md_and_no_row_is_stale()
    {
        var source = SourceCodes();
        Assert.True(source.Count > 50, $"found only {source.Count} codes under {TestPaths.RepoRoot}: is the tree there?");
        var rows = Row().Matches(File.ReadAllText(Catalogue)).Select(m => m.Groups[1].Value).ToList();

        var missing = source.Keys.Except(rows).ToList();
        var stale = rows.Except(source.Keys).ToList();
        var twice = rows.GroupBy(r => r).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.True(missing.Count == 0 && stale.Count == 0 && twice.Count == 0,
            (missing.Count > 0 ? $"docs/errors.md has no row for {missing.Count} code(s); add '| MCxxxx | cause | fix |' under its range:\n"
                + string.Join("\n", missing.Select(c => $"  {c} (first used at {source[c]})")) + "\n" : "")
            + (stale.Count > 0 ? $"docs/errors.md lists code(s) the source no longer uses: {string.Join(", ", stale)}\n" : "")
            + (twice.Count > 0 ? $"docs/errors.md lists code(s) twice: {string.Join(", ", twice)}\n" : ""));
    }

    [Fact]
    public void Rows_sit_under_the_heading_of_their_range_in_ascending_order()
    {
        string? section = null;
        var previous = "";
        foreach (var line in File.ReadAllLines(Catalogue))
        {
            if (line.StartsWith("## ", StringComparison.Ordinal)) { section = line; previous = ""; continue; }
            var m = Row().Match(line);
            if (!m.Success) continue;
            var code = m.Groups[1].Value;
            var expected = code[2] switch
            {
                '1' when code[3] == '2' => "## MC12xx",
                '1' => "## MC1xxx",
                '2' => "## MC2xxx",
                '3' => "## MC3xxx",
                _ => "## MC4xxx",
            };
            Assert.True(section?.StartsWith(expected, StringComparison.Ordinal) == true, $"{code} is under '{section}', not '{expected}…'");
            Assert.True(string.CompareOrdinal(previous, code) < 0, $"{code} comes after {previous}");
            previous = code;
            var cells = line.Trim().Trim('|').Split('|');
            Assert.True(cells.Length == 3 && cells.All(c => c.Trim().Length > 0), $"{code}: a row is '| code | cause | fix |': {line}");
        }
    }
}

using System.Globalization;
using System.Text.RegularExpressions;
using ModelCompiler.Compilation;

namespace ModelCompiler.Core.Tests.Compilation;

/// <summary>The Markdown report read as a person (and a script) reads it: tables parsed cell by cell.</summary>
public sealed partial class ReportWriterTests(CompileFixture f) : IClassFixture<CompileFixture>
{
    [GeneratedRegex(@"\d[eE][+-]?\d")]
    private static partial Regex Exponent();

    /// <summary>Every Markdown table of the report: its header cells and its rows' cells.</summary>
    private static List<(string[] Header, List<string[]> Rows)> Tables(string report)
    {
        static string[] Cells(string line) =>
            Regex.Split(line.Trim().Trim('|'), @"(?<!\\)\|").Select(c => c.Trim()).ToArray();
        var lines = report.Split('\n');
        var tables = new List<(string[], List<string[]>)>();
        for (var i = 0; i + 1 < lines.Length; i++)
        {
            if (!lines[i].StartsWith('|') || !lines[i + 1].StartsWith("|---", StringComparison.Ordinal)) continue;
            var rows = new List<string[]>();
            var j = i + 2;
            for (; j < lines.Length && lines[j].StartsWith('|'); j++) rows.Add(Cells(lines[j]));
            tables.Add((Cells(lines[i]), rows));
            i = j;
        }
        return tables;
    }

    private static (string[] Header, List<string[]> Rows) LayerTable(string report) =>
        Tables(report).Single(t => t.Header[0] == "layer");

    private static string Cell((string[] Header, List<string[]> Rows) table, string[] row, string column) =>
        row[Array.IndexOf(table.Header, column)];

    private static void AssertReadable(string report)
    {
        var exponent = Exponent().Match(report);
        Assert.False(exponent.Success, $"exponent notation '{exponent.Value}' in the report:\n{report}");
        Assert.DoesNotContain("-+", report);
        var tables = Tables(report);
        Assert.True(tables.Count >= 2, report);
        foreach (var (header, rows) in tables)
        {
            Assert.All(rows, r => Assert.Equal(header.Length, r.Length));
            // The legend under each table defines each of its columns, in italics.
            foreach (var column in header)
                Assert.True(report.Contains($"*{column}*", StringComparison.Ordinal), $"column '{column}' is not defined in the report's legend");
        }
    }

    [Fact]
    public void Without_a_probe_the_layer_table_has_no_measured_columns_and_every_column_is_defined()
    {
        var r = f.Compile("report-spike", CompileFixture.Yaml("  kind: spike", calibTokens: 512, evalTokens: 512,
            gates: "gates:\n  min_int8_fraction: 0.000005"));
        var report = File.ReadAllText(r.Options.ResolvedReportPath);

        AssertReadable(report);
        var layers = LayerTable(report);
        Assert.DoesNotContain("measured KL", layers.Header);
        Assert.DoesNotContain("measured Δ ppl", layers.Header);
        Assert.Equal(r.Decisions.Count, layers.Rows.Count);
        // No predictor in the spike policy: its column says "not computed".
        Assert.All(layers.Rows, row => Assert.Equal(ReportWriter.NotMeasured, Cell(layers, row, "predicted risk")));

        // A tiny limit prints as written, not as 5E-06.
        var gates = Tables(report).Single(t => t.Header[0] == "gate");
        Assert.Equal("0.000005", Cell(gates, Assert.Single(gates.Rows), "limit"));

        // The validation table's figures are plain decimals that parse back to what was measured.
        var validation = Tables(report).Single(t => t.Header[0] == "provider" && t.Header.Contains("mean KL"));
        var cpu = Assert.Single(r.Providers, p => p.Status == Validation.ProviderStatus.Ok);
        var row = validation.Rows.Single(x => x[0] == cpu.Provider);
        var kl = double.Parse(Cell(validation, row, "mean KL"), NumberStyles.Float, CultureInfo.InvariantCulture);
        Assert.Equal(cpu.MeanKlDivergence, kl, cpu.MeanKlDivergence * 1e-3);
        var increase = Cell(validation, row, "increase");
        Assert.Matches(@"^[+-]\d+\.\d{3}%$", increase);
        Assert.Equal(cpu.PerplexityIncreasePct, double.Parse(increase.TrimEnd('%'), NumberStyles.Float, CultureInfo.InvariantCulture), 0.0005);
    }

    [Fact]
    public void The_measured_policy_adds_per_layer_delta_ppl_and_kl_columns()
    {
        var r = f.Compile("report-measured", CompileFixture.Yaml("  kind: measured\n  probe_tokens: 128", calibTokens: 256, evalTokens: 256));
        var report = File.ReadAllText(r.Options.ResolvedReportPath);

        AssertReadable(report);
        var layers = LayerTable(report);
        Assert.Contains("measured KL", layers.Header);
        Assert.Contains("measured Δ ppl", layers.Header);
        foreach (var d in r.Decisions)
        {
            var row = layers.Rows.Single(x => x[0] == $"`{d.Layer.Name}`");
            var kl = double.Parse(Cell(layers, row, "measured KL"), NumberStyles.Float, CultureInfo.InvariantCulture);
            Assert.True(kl >= 0);
            Assert.Equal(d.Evidence.MeasuredKl!.Value, kl, Math.Max(d.Evidence.MeasuredKl.Value * 1e-3, 1e-12));
            var increase = Cell(layers, row, "measured Δ ppl");
            Assert.Matches(@"^[+-]\d+\.\d{4}%$", increase);
            Assert.Equal(d.Evidence.MeasuredIncreasePct!.Value, double.Parse(increase.TrimEnd('%'), NumberStyles.Float, CultureInfo.InvariantCulture), 0.00005);
        }
        // A layer the probe moved more is not reported as moving less: the two error figures agree in order at the extremes.
        var byKl = r.Decisions.OrderBy(d => d.Evidence.MeasuredKl).ToList();
        Assert.True(byKl[^1].Evidence.MeasuredIncreasePct >= byKl[0].Evidence.MeasuredIncreasePct);
    }

    [Theory]
    [InlineData(-0.0001, 3, "+0.000")]
    [InlineData(-0.0004999, 3, "+0.000")]
    [InlineData(-0.0006, 3, "-0.001")]
    [InlineData(0.1247, 3, "+0.125")]
    [InlineData(-2.5, 1, "-2.5")]
    public void Signed_figures_take_the_sign_of_the_rounded_value(double value, int decimals, string expected) =>
        Assert.Equal(expected, ReportNumbers.Signed(value, decimals));

    [Theory]
    [InlineData(0.01052, 4, "0.01052")]
    [InlineData(1.052e-7, 4, "0.0000001052")]
    [InlineData(3.14159, 4, "3.142")]
    [InlineData(12345.6, 4, "12346")]
    [InlineData(0, 4, "0.000")]
    public void Significant_figures_are_plain_decimals(double value, int digits, string expected) =>
        Assert.Equal(expected, ReportNumbers.Significant(value, digits));
}

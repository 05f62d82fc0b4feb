using System.Globalization;
using System.Text;
using ModelCompiler.Onnx;

namespace ModelCompiler.Policies;

/// <summary>
/// One layer of one model as <c>modelc sensitivity</c> measured it: its features (in <see cref="LayerFeatures.Names"/>
/// order), the change in NLL when only this layer is quantized to INT8, and whether that counts as hurting.
/// </summary>
/// <param name="DeltaNllPct">The increase of the mean NLL in percent (negative when INT8 happened to help).</param>
/// <param name="KlDivergence">The mean KL divergence of the INT8 logits from the fp32 ones.</param>
public sealed record SensitivityRow(
    string Model,
    string Layer,
    string Role,
    IReadOnlyList<float> Features,
    double DeltaNllPct,
    double KlDivergence,
    bool Label);

/// <summary>
/// The sensitivity data set as CSV: <c>model,layer,role,&lt;LayerFeatures.Names&gt;,delta_nll_pct,kl,label</c>.
/// Invariant culture, shortest round-trip numbers (a written value reads back bit for bit), RFC 4180 quoting of the
/// names, LF line ends, label 0/1. Every value must be finite. The same rows give the same bytes.
/// </summary>
public static class SensitivityTable
{
    private static readonly string[] Leading = ["model", "layer", "role"];
    private static readonly string[] Trailing = ["delta_nll_pct", "kl", "label"];

    /// <summary>The header this modelc writes and reads.</summary>
    public static IReadOnlyList<string> Columns { get; } = [.. Leading, .. LayerFeatures.Names, .. Trailing];

    public static void Write(TextWriter w, IEnumerable<SensitivityRow> rows)
    {
        w.Write(string.Join(',', Columns));
        w.Write('\n');
        var sb = new StringBuilder();
        foreach (var row in rows)
        {
            if (row.Features.Count != LayerFeatures.Names.Count)
                throw new ArgumentException($"row {row.Model}/{row.Layer} has {row.Features.Count} features; expected {LayerFeatures.Names.Count} (LayerFeatures.Names).", nameof(rows));
            sb.Clear();
            sb.Append(Quote(row.Model)).Append(',').Append(Quote(row.Layer)).Append(',').Append(Quote(row.Role));
            for (var i = 0; i < row.Features.Count; i++)
            {
                var f = row.Features[i];
                if (!float.IsFinite(f)) throw new ArgumentException($"row {row.Model}/{row.Layer}: feature {LayerFeatures.Names[i]} is {f}; features must be finite.", nameof(rows));
                sb.Append(',').Append(f.ToString("R", CultureInfo.InvariantCulture));
            }
            if (!double.IsFinite(row.DeltaNllPct) || !double.IsFinite(row.KlDivergence))
                throw new ArgumentException($"row {row.Model}/{row.Layer}: delta_nll_pct and kl must be finite.", nameof(rows));
            sb.Append(',').Append(row.DeltaNllPct.ToString("R", CultureInfo.InvariantCulture));
            sb.Append(',').Append(row.KlDivergence.ToString("R", CultureInfo.InvariantCulture));
            sb.Append(',').Append(row.Label ? '1' : '0').Append('\n');
            w.Write(sb);
        }
    }

    /// <summary>Writes the table atomically to a file (UTF-8, no BOM).</summary>
    public static void Write(string path, IEnumerable<SensitivityRow> rows)
    {
        var sw = new StringWriter(CultureInfo.InvariantCulture);
        Write(sw, rows);
        AtomicFile.WriteAllText(path, sw.ToString());
    }

    public static IReadOnlyList<SensitivityRow> Read(string path)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
            throw new ModelCompilerException(PredictorCodes.SensitivityFileNotFound, "sensitivity CSV not found; check the path (modelc sensitivity writes it).", full);
        return Parse(File.ReadAllText(full, Encoding.UTF8), full);
    }

    /// <summary>Reads the CSV text; <paramref name="file"/> names it in errors.</summary>
    public static IReadOnlyList<SensitivityRow> Parse(string text, string file)
    {
        var records = Csv.Records(text, file).GetEnumerator();
        if (!records.MoveNext())
            throw new ModelCompilerException(PredictorCodes.SensitivityColumnsMismatch, $"the file is empty; expected the header {string.Join(',', Columns)}.", file, 1, 1);
        CheckHeader(records.Current, file);

        var features = LayerFeatures.Names.Count;
        var rows = new List<SensitivityRow>();
        while (records.MoveNext())
        {
            var r = records.Current;
            if (r.Fields.Count != Columns.Count)
                throw Error(file, r.Line, 1, $"the row has {r.Fields.Count} fields; the header has {Columns.Count}.");
            var model = NonEmpty(r, 0);
            var layer = NonEmpty(r, 1);
            var role = r.Fields[2].Text;
            var values = new float[features];
            for (var i = 0; i < features; i++)
            {
                var f = r.Fields[3 + i];
                if (!float.TryParse(f.Text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !float.IsFinite(v))
                    throw Error(file, r.Line, f.Column, $"{Columns[3 + i]} is '{f.Text}'; expected a finite number.");
                values[i] = v;
            }
            var delta = FiniteDouble(r, 3 + features);
            var kl = FiniteDouble(r, 4 + features);
            var labelField = r.Fields[5 + features];
            var label = labelField.Text switch
            {
                "1" => true,
                "0" => false,
                _ => throw Error(file, r.Line, labelField.Column, $"label is '{labelField.Text}'; expected 0 or 1."),
            };
            rows.Add(new SensitivityRow(model, layer, role, values, delta, kl, label));
        }
        return rows;

        string NonEmpty(Csv.Record r, int i) =>
            r.Fields[i].Text.Length > 0 ? r.Fields[i].Text : throw Error(file, r.Line, r.Fields[i].Column, $"{Columns[i]} is empty.");

        double FiniteDouble(Csv.Record r, int i)
        {
            var f = r.Fields[i];
            return double.TryParse(f.Text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v)
                ? v
                : throw Error(file, r.Line, f.Column, $"{Columns[i]} is '{f.Text}'; expected a finite number.");
        }
    }

    private static void CheckHeader(Csv.Record header, string file)
    {
        var got = header.Fields.Select(f => f.Text).ToList();
        if (got.SequenceEqual(Columns, StringComparer.Ordinal)) return;
        var missing = Columns.Where(c => !got.Contains(c, StringComparer.Ordinal)).ToList();
        var extra = got.Where(c => !Columns.Contains(c, StringComparer.Ordinal)).Distinct(StringComparer.Ordinal).ToList();
        var parts = new List<string>();
        if (missing.Count > 0) parts.Add($"missing {string.Join(", ", missing)}");
        if (extra.Count > 0) parts.Add($"extra {string.Join(", ", extra)}");
        if (parts.Count == 0)
        {
            var dup = got.GroupBy(c => c, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
            if (dup is not null) parts.Add($"'{dup.Key}' given twice");
            else
            {
                var at = Enumerable.Range(0, got.Count).First(i => got[i] != Columns[i]);
                parts.Add($"column {at + 1} is '{got[at]}' where this modelc expects '{Columns[at]}' (same columns, other order)");
            }
        }
        throw new ModelCompilerException(PredictorCodes.SensitivityColumnsMismatch,
            $"the columns differ from this modelc's ({string.Join("; ", parts)}); regenerate it with this modelc's 'modelc sensitivity'.",
            file, header.Line, 1);
    }

    private static ModelCompilerException Error(string file, int line, int column, string message) =>
        new(PredictorCodes.SensitivityRowMalformed, message, file, line, column);

    /// <summary>RFC 4180: quote a field holding a comma, quote or line break (or edge spaces, so they survive), doubling quotes.</summary>
    internal static string Quote(string field) =>
        field.AsSpan().IndexOfAny(",\"\r\n") >= 0 || (field.Length > 0 && (char.IsWhiteSpace(field[0]) || char.IsWhiteSpace(field[^1])))
            ? "\"" + field.Replace("\"", "\"\"", StringComparison.Ordinal) + "\""
            : field;

    /// <summary>A small RFC 4180 reader that remembers where each record and field starts; blank lines are skipped.</summary>
    internal static class Csv
    {
        public readonly record struct Field(string Text, int Column);

        public sealed record Record(int Line, IReadOnlyList<Field> Fields);

        public static IEnumerable<Record> Records(string text, string file)
        {
            var pos = text.Length > 0 && text[0] == '\uFEFF' ? 1 : 0;
            var line = 1;
            var lineStart = pos;
            while (pos < text.Length)
            {
                if (text[pos] is '\n' or '\r')
                {
                    pos += text[pos] == '\r' && pos + 1 < text.Length && text[pos + 1] == '\n' ? 2 : 1;
                    line++;
                    lineStart = pos;
                    continue;
                }
                var recordLine = line;
                var fields = new List<Field>();
                while (true)
                {
                    var column = pos - lineStart + 1;
                    string value;
                    if (pos < text.Length && text[pos] == '"')
                    {
                        var sb = new StringBuilder();
                        pos++;
                        while (true)
                        {
                            if (pos >= text.Length)
                                throw Error(file, recordLine, column, "a quoted field is not closed (a '\"' is missing).");
                            var c = text[pos];
                            if (c == '"')
                            {
                                if (pos + 1 < text.Length && text[pos + 1] == '"')
                                {
                                    sb.Append('"');
                                    pos += 2;
                                    continue;
                                }
                                pos++;
                                break;
                            }
                            if (c == '\n' || (c == '\r' && !(pos + 1 < text.Length && text[pos + 1] == '\n')))
                            {
                                line++;
                                lineStart = pos + 1;
                            }
                            sb.Append(c);
                            pos++;
                        }
                        if (pos < text.Length && text[pos] is not (',' or '\r' or '\n'))
                            throw Error(file, line, pos - lineStart + 1, "text after a closing quote; quote the whole field and double the quotes inside.");
                        value = sb.ToString();
                    }
                    else
                    {
                        var start = pos;
                        while (pos < text.Length && text[pos] is not (',' or '\r' or '\n'))
                        {
                            if (text[pos] == '"')
                                throw Error(file, line, pos - lineStart + 1, "a quote inside an unquoted field; quote the whole field and double the quotes inside.");
                            pos++;
                        }
                        value = text[start..pos];
                    }
                    fields.Add(new Field(value, column));
                    if (pos < text.Length && text[pos] == ',')
                    {
                        pos++;
                        continue;
                    }
                    break;
                }
                yield return new Record(recordLine, fields);
            }
        }
    }
}

using System.Globalization;
using System.Text.RegularExpressions;
using ScottPlot;
using SkiaSharp;

namespace ModelCompiler.Compilation;

/// <summary>One layer in the compile report's per-layer plot.</summary>
/// <param name="SpikeScore">Calibration's spike score (largest channel |x| over the median channel's), &gt;= 0.</param>
/// <param name="PredictedRisk">The predictor's risk in [0, 1], or null where none was predicted.</param>
/// <param name="Decision">"int8", "fp16" or "fp32".</param>
public sealed record LayerPlotPoint(string Name, double SpikeScore, double? PredictedRisk, string Decision);

/// <summary>
/// The compile report's per-layer plot: spike score as bars (log₂ scale, left axis) and predicted risk as markers
/// (right axis, 0..1), both coloured by decision, layers in order along x. SVG or PNG by the path's extension.
/// </summary>
/// <remarks>
/// Text is drawn with DejaVu Sans embedded in this assembly (Compilation/Fonts), never with installed fonts, so the
/// plot renders the same on a machine without fonts and the same input gives byte-identical files.
/// </remarks>
public static partial class LayerPlot
{
    /// <summary>The family name the embedded fonts are registered under with ScottPlot.</summary>
    internal const string FontName = "ModelCompiler DejaVu Sans";

    private const int Height = 620;
    private static readonly Color Int8Color = Color.FromHex("#4C78A8");
    private static readonly Color Fp16Color = Color.FromHex("#F58518");
    private static readonly Color Fp32Color = Color.FromHex("#B8405E");

    /// <summary>Writes the plot to <paramref name="path"/> (.svg or .png).</summary>
    /// <exception cref="ArgumentException">No layers; a decision other than int8/fp16/fp32; a negative or non-finite spike
    /// score; a risk outside [0, 1]; a path that does not end in .svg or .png.</exception>
    public static void Write(IReadOnlyList<LayerPlotPoint> layers, string path)
    {
        ArgumentNullException.ThrowIfNull(layers);
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (layers.Count == 0) throw new ArgumentException("the layer plot needs at least one layer", nameof(layers));
        var extension = Path.GetExtension(path).ToLowerInvariant();
        if (extension is not (".svg" or ".png"))
            throw new ArgumentException($"layer plot path '{path}' must end in .svg or .png", nameof(path));
        foreach (var l in layers)
        {
            if (ColorOf(l.Decision) is null)
                throw new ArgumentException($"layer '{l.Name}': decision '{l.Decision}' is not int8, fp16 or fp32", nameof(layers));
            if (!double.IsFinite(l.SpikeScore) || l.SpikeScore < 0)
                throw new ArgumentException($"layer '{l.Name}': spike score {l.SpikeScore} is not a finite value >= 0", nameof(layers));
            if (l.PredictedRisk is { } r && !(r >= 0 && r <= 1))
                throw new ArgumentException($"layer '{l.Name}': predicted risk {r} is not in [0, 1]", nameof(layers));
        }

        using var plot = Build(layers);
        var width = Math.Clamp(330 + 22 * layers.Count, 720, 8000);
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null) Directory.CreateDirectory(directory);
        if (extension == ".svg") File.WriteAllText(path, RenumberIds(plot.GetSvgXml(width, Height)));
        else plot.SavePng(path, width, Height);
    }

    /// <summary>
    /// Skia's SVG canvas numbers clip paths from a process-wide counter (cl_4, cl_5, … then cl_9 … for the next
    /// plot); numbering them from 0 in order of appearance makes the file depend on the input alone.
    /// </summary>
    internal static string RenumberIds(string svg)
    {
        var ids = new Dictionary<string, string>(StringComparer.Ordinal);
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (Match m in IdPattern().Matches(svg))
        {
            var prefix = m.Groups[2].Value;
            if (ids.ContainsKey(m.Groups[1].Value)) continue;
            counts[prefix] = counts.GetValueOrDefault(prefix) + 1;
            ids[m.Groups[1].Value] = $"{prefix}_{counts[prefix] - 1}";
        }
        return ReferencePattern().Replace(svg, m =>
            ids.TryGetValue(m.Groups[2].Value, out var id) ? m.Groups[1].Value + id + m.Groups[3].Value : m.Value);
    }

    [GeneratedRegex(@"id=""(([A-Za-z]+)_[0-9A-Fa-f]+)""")]
    private static partial Regex IdPattern();

    [GeneratedRegex(@"(id=""|url\(#|href=""#)([A-Za-z]+_[0-9A-Fa-f]+)(""|\))")]
    private static partial Regex ReferencePattern();

    private static Plot Build(IReadOnlyList<LayerPlotPoint> layers)
    {
        EmbeddedFonts.Register();
        var plot = new Plot();
        var n = layers.Count;

        // Bars: log₂ of the spike score; scores below 1 (a median channel of 0) sit at the axis.
        var heights = layers.Select(l => Math.Log2(Math.Max(l.SpikeScore, 1))).ToArray();
        plot.Add.Bars(layers.Select((l, i) => new Bar
        {
            Position = i, Value = heights[i], Size = 0.8, FillColor = ColorOf(l.Decision)!.Value.WithAlpha(0.75), LineWidth = 0,
        }).ToList());

        // Risk markers on the right axis.
        var risky = Enumerable.Range(0, n).Where(i => layers[i].PredictedRisk is not null).ToArray();
        foreach (var group in risky.GroupBy(i => layers[i].Decision.ToLowerInvariant()).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var markers = plot.Add.Markers(
                group.Select(i => (double)i).ToArray(), group.Select(i => layers[i].PredictedRisk!.Value).ToArray(),
                MarkerShape.FilledDiamond, 9, ColorOf(group.Key)!.Value.Darken(0.35));
            markers.MarkerStyle.LineColor = Colors.Black;
            markers.MarkerStyle.LineWidth = 1;
            markers.Axes.YAxis = plot.Axes.Right;
        }

        plot.Font.Set(FontName);
        plot.Title($"Per-layer spike score and predicted risk ({n} layers)");

        plot.Axes.Bottom.Label.Text = "layer (input order)";
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            Enumerable.Range(0, n).Select(i => (double)i).ToArray(), layers.Select(l => ShortName(l.Name)).ToArray());
        plot.Axes.Bottom.TickLabelStyle.Rotation = 45;
        plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
        plot.Axes.Bottom.TickLabelStyle.FontSize = 11;
        var longest = layers.Max(l => ShortName(l.Name).Length);
        plot.Axes.Bottom.MinimumSize = Math.Min(220, 36 + 4.8f * longest); // 45° labels of 11 px text
        plot.Axes.SetLimitsX(-0.7, n - 0.3);

        var top = Math.Max(1, Math.Ceiling(heights.Max()));
        plot.Axes.Left.Label.Text = "spike score (max / median channel |x|, log2 scale)";
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            Enumerable.Range(0, (int)top + 1).Select(k => (double)k).ToArray(),
            Enumerable.Range(0, (int)top + 1).Select(k => Math.Pow(2, k).ToString("0", CultureInfo.InvariantCulture)).ToArray());
        plot.Axes.SetLimitsY(0, top * 1.08, plot.Axes.Left);

        plot.Axes.Right.Label.Text = "predicted risk";
        plot.Axes.Right.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            [0, 0.25, 0.5, 0.75, 1], ["0", "0.25", "0.5", "0.75", "1"]);
        plot.Axes.SetLimitsY(0, 1.08, plot.Axes.Right);

        plot.ShowLegend(Edge.Right); // beside the data, never over a bar
        plot.Legend.FontName = FontName;
        foreach (var decision in new[] { "int8", "fp16", "fp32" })
            if (layers.Any(l => string.Equals(l.Decision, decision, StringComparison.OrdinalIgnoreCase)))
                plot.Legend.ManualItems.Add(new LegendItem { LabelText = decision.ToUpperInvariant(), FillColor = ColorOf(decision)!.Value });
        if (risky.Length > 0)
            plot.Legend.ManualItems.Add(new LegendItem
            {
                LabelText = "predicted risk (right axis)", MarkerShape = MarkerShape.FilledDiamond, MarkerSize = 9,
                MarkerFillColor = Colors.Gray, MarkerLineColor = Colors.Black, LineWidth = 0,
            });
        return plot;
    }

    private static Color? ColorOf(string decision) => decision.ToLowerInvariant() switch
    {
        "int8" => Int8Color,
        "fp16" => Fp16Color,
        "fp32" => Fp32Color,
        _ => null,
    };

    /// <summary>
    /// A tick label: "model." and the "self_attn." / "mlp." levels dropped, "layers.3." shortened to "3.", and at most
    /// 24 characters (the last dot-separated parts kept, "…" in front), e.g. model.layers.3.mlp.down_proj → 3.down_proj.
    /// </summary>
    internal static string ShortName(string name)
    {
        var s = name.StartsWith("model.", StringComparison.Ordinal) ? name["model.".Length..] : name;
        s = s.Replace("layers.", "", StringComparison.Ordinal)
             .Replace("self_attn.", "", StringComparison.Ordinal)
             .Replace("attention.", "", StringComparison.Ordinal)
             .Replace("mlp.", "", StringComparison.Ordinal)
             .Replace("feed_forward.", "", StringComparison.Ordinal);
        if (s.Length <= 24) return s;
        // Drop whole leading segments while too long; cut inside a segment only when the last one alone is.
        var tail = s;
        for (var dot = tail.IndexOf('.'); tail.Length > 23 && dot >= 0; dot = tail.IndexOf('.')) tail = tail[(dot + 1)..];
        return "…" + (tail.Length > 23 ? tail[^23..] : tail);
    }

    /// <summary>Registers the embedded DejaVu Sans (regular and bold) with ScottPlot once per process.</summary>
    private sealed class EmbeddedFonts : IFontResolver
    {
        private static readonly object Gate = new();
        private static bool _registered;
        private readonly byte[] _regular = Load("DejaVuSans-Latin.ttf");
        private readonly byte[] _bold = Load("DejaVuSans-Bold-Latin.ttf");

        public static void Register()
        {
            lock (Gate)
            {
                if (_registered) return;
                Fonts.FontResolvers.Insert(0, new EmbeddedFonts());
                _registered = true;
            }
        }

        public SKTypeface? CreateTypeface(string fontName, FontWeight weight, FontSlant slant, FontSpacing width) =>
            CreateTypeface(fontName, weight >= FontWeight.SemiBold, slant != FontSlant.Upright);

        public SKTypeface? CreateTypeface(string fontName, bool bold, bool italic)
        {
            if (!string.Equals(fontName, FontName, StringComparison.Ordinal)) return null;
            return SKTypeface.FromData(SKData.CreateCopy(bold ? _bold : _regular));
        }

        private static byte[] Load(string file)
        {
            using var stream = typeof(LayerPlot).Assembly.GetManifestResourceStream("ModelCompiler.Fonts." + file)
                ?? throw new InvalidOperationException($"embedded font {file} is missing from {typeof(LayerPlot).Assembly.GetName().Name}");
            using var memory = new MemoryStream();
            stream.CopyTo(memory);
            return memory.ToArray();
        }
    }
}

using System.Buffers.Binary;
using System.Xml.Linq;
using ModelCompiler.Compilation;
using ModelCompiler.Tests;

namespace ModelCompiler.Core.Tests.Compilation;

public sealed class LayerPlotTests
{
    /// <summary>stories260K's 36 layers in order (5 blocks × 7, lm_head), with made-up scores, risks and decisions.</summary>
    internal static LayerPlotPoint[] Stories()
    {
        string[] projections = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"];
        var points = new List<LayerPlotPoint>();
        for (var block = 0; block < 5; block++)
            for (var p = 0; p < projections.Length; p++)
            {
                var i = points.Count;
                var spike = projections[p] == "mlp.down_proj" ? 40.0 + 60 * block : 1.5 + (i % 5);
                var decision = spike > 100 ? "fp16" : i == 3 ? "fp32" : "int8";
                points.Add(new LayerPlotPoint($"model.layers.{block}.{projections[p]}", spike, i % 9 == 4 ? null : Math.Min(1, spike / 300), decision));
            }
        points.Add(new LayerPlotPoint("lm_head", 12.5, 0.2, "int8"));
        return [.. points];
    }

    [Fact]
    public void Svg_IsXmlWithOneBarPerLayerAndTheLayerNames()
    {
        var dir = TestPaths.NewTempDir("mc-plot");
        var path = Path.Combine(dir, "layers.svg");
        var layers = Stories();
        LayerPlot.Write(layers, path);

        var svg = XDocument.Load(path);
        Assert.Equal("svg", svg.Root!.Name.LocalName);
        var text = string.Concat(svg.Descendants().Where(e => e.Name.LocalName == "text").Select(e => e.Value + "\n"));
        foreach (var l in layers) Assert.Contains(LayerPlot.ShortName(l.Name), text);
        Assert.Contains("3.down_proj", text);
        Assert.Contains("Per-layer spike score", text);
        Assert.Contains("predicted risk", text);
        Assert.Contains("INT8", text);
        Assert.Contains("FP16", text);
        Assert.Contains("FP32", text);

        // Bars are filled shapes in the decision colours at alpha 0.75; count those of the three colours.
        var fills = svg.Descendants().Select(e => (string?)e.Attribute("fill")).Where(f => f is not null).ToList();
        var int8 = layers.Count(l => l.Decision == "int8");
        var fallback16 = layers.Count(l => l.Decision == "fp16");
        Assert.True(CountFill(svg, "#4C78A8") >= int8, $"int8 bars: {CountFill(svg, "#4C78A8")} < {int8}");
        Assert.True(CountFill(svg, "#F58518") >= fallback16);
        Assert.True(fills.Count > 0);
    }

    [Fact]
    public void Png_HasSignatureAndSensibleDimensions()
    {
        var dir = TestPaths.NewTempDir("mc-plot");
        var path = Path.Combine(dir, "layers.png");
        LayerPlot.Write(Stories(), path);
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, bytes[..8]);
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(bytes, 12, 4));
        var width = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16));
        var height = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20));
        Assert.Equal(330 + 22 * 36, width); // 1122: grows with the layer count
        Assert.Equal(620, height);
        Assert.True(bytes.Length > 20_000, $"{bytes.Length} bytes is too small for a plot with text");
    }

    [Fact]
    public void SameInput_GivesByteIdenticalFiles()
    {
        var dir = TestPaths.NewTempDir("mc-plot");
        foreach (var ext in new[] { "svg", "png" })
        {
            var a = Path.Combine(dir, $"a.{ext}");
            var b = Path.Combine(dir, $"b.{ext}");
            LayerPlot.Write(Stories(), a);
            LayerPlot.Write(Stories().ToList(), b);
            Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
        }
        // And a different input gives a different file (the comparison above can fail).
        var changed = Stories();
        changed[0] = changed[0] with { SpikeScore = 200 };
        var c = Path.Combine(dir, "c.png");
        LayerPlot.Write(changed, c);
        Assert.NotEqual(File.ReadAllBytes(Path.Combine(dir, "a.png")), File.ReadAllBytes(c));
    }

    [Fact]
    public void OneLayerWithoutRisk_AndZeroSpike_StillRenders()
    {
        var dir = TestPaths.NewTempDir("mc-plot");
        var path = Path.Combine(dir, "one.svg");
        LayerPlot.Write([new LayerPlotPoint("lm_head", 0, null, "FP32")], path);
        Assert.Contains("lm_head", File.ReadAllText(path));
    }

    [Fact]
    public void BadInput_IsArgumentException()
    {
        var dir = TestPaths.NewTempDir("mc-plot");
        var svg = Path.Combine(dir, "x.svg");
        Assert.Throws<ArgumentException>(() => LayerPlot.Write([], svg));
        Assert.Throws<ArgumentException>(() => LayerPlot.Write([new("a", 1, 0.5, "int4")], svg));
        Assert.Throws<ArgumentException>(() => LayerPlot.Write([new("a", double.NaN, 0.5, "int8")], svg));
        Assert.Throws<ArgumentException>(() => LayerPlot.Write([new("a", 1, 1.5, "int8")], svg));
        Assert.Throws<ArgumentException>(() => LayerPlot.Write([new("a", 1, 0.5, "int8")], Path.Combine(dir, "x.jpg")));
        Assert.False(File.Exists(svg));
    }

    [Theory]
    [InlineData("model.layers.3.mlp.down_proj", "3.down_proj")]
    [InlineData("model.layers.12.self_attn.q_proj", "12.q_proj")]
    [InlineData("lm_head", "lm_head")]
    [InlineData("a_single_segment_name_that_is_far_too_long", "…me_that_is_far_too_long")]
    [InlineData("encoder.block.11.layer.1.DenseReluDense.wo", "…1.DenseReluDense.wo")]
    public void ShortName_DropsTheObviousLevels(string name, string expected)
    {
        Assert.Equal(expected, LayerPlot.ShortName(name));
    }

    [Fact]
    public void RenumberIds_NumbersClipPathsFromZeroInOrder()
    {
        const string svg = """<svg><clipPath id="cl_7"/><clipPath id="cl_1a"/><g clip-path="url(#cl_1a)"/><g clip-path="url(#cl_7)"/></svg>""";
        Assert.Equal("""<svg><clipPath id="cl_0"/><clipPath id="cl_1"/><g clip-path="url(#cl_1)"/><g clip-path="url(#cl_0)"/></svg>""",
            LayerPlot.RenumberIds(svg));
    }

    private static int CountFill(XDocument svg, string hex) =>
        svg.Descendants().Count(e => string.Equals((string?)e.Attribute("fill"), hex, StringComparison.OrdinalIgnoreCase));
}

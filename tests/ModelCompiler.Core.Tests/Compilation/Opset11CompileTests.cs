using ModelCompiler.Calibration;
using ModelCompiler.Compilation;
using ModelCompiler.Evaluation;
using ModelCompiler.Import;
using ModelCompiler.Onnx;
using ModelCompiler.Runtime;
using ModelCompiler.Tests;
using ModelCompiler.Transforms;

namespace ModelCompiler.Core.Tests.Compilation;

/// <summary>
/// stories260K imported at opset 11 (as older exporters write): the ops whose form changed after opset 11 are
/// written the old way and compute the same logits as the opset-17 import, and INT8 on it uses the contrib
/// per-channel DequantizeLinear, giving the same quantized model numerics as at opset 17 — no opset upgrade,
/// no per-tensor fallback (docs/models.md has the measurement).
/// </summary>
public sealed class Opset11CompileTests : IClassFixture<CompileFixture>, IDisposable
{
    private readonly CompileFixture _f;
    private readonly string _dir = TestPaths.NewTempDir("mc-opset11");
    private readonly string _model11;

    public Opset11CompileTests(CompileFixture f)
    {
        _f = f;
        _model11 = Path.Combine(_dir, "stories260K-opset11.onnx");
        Llama2cImporter.Import(TestPaths.Checkpoint, TestPaths.Tokenizer, _model11, opset: 11);
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void Opset_11_import_writes_the_old_op_forms_and_computes_the_opset_17_logits()
    {
        var model = OnnxModelIO.Load(_model11);
        Assert.Equal(11, model.OpsetImport.Single().Version);
        var unsqueezes = model.Graph.Node.Where(n => n.OpType == "Unsqueeze").ToList();
        Assert.NotEmpty(unsqueezes);
        Assert.All(unsqueezes, n => { Assert.Single(n.Input); Assert.NotNull(Attr.Find(n, "axes")); }); // axes an input only from 13
        Assert.DoesNotContain(model.Graph.Node, n => n.OpType == "LessOrEqual"); // from 12
        Assert.Contains(model.Graph.Node, n => n.OpType == "Softmax" && Attr.GetInt(n, "axis", 1) == -1); // last axis: same under 11's 2-D coercion

        using var s17 = new DecoderSession(_f.ModelPath, Deterministic.SessionOptions());
        using var s11 = new DecoderSession(_model11, Deterministic.SessionOptions());
        var tokens = TokenStream.Load(TestPaths.TinyStoriesSample, Tokenization.TokenizerLoader.Load(TestPaths.Tokenizer, null), 64);
        var ids = PerplexityEvaluator.ToInt64(tokens.Tokens.ToArray());
        using var a = s17.Run(ids);
        using var b = s11.Run(ids);
        var x = a.Logits.ToArray();
        var y = b.Logits.ToArray();
        Assert.Equal(x.Length, y.Length);
        for (var i = 0; i < x.Length; i++) Assert.True(Math.Abs(x[i] - y[i]) <= 1e-4f, $"logit {i}: {x[i]} vs {y[i]}");
    }

    [Fact]
    public void An_opset_the_importer_cannot_write_is_MC1018_and_writes_nothing()
    {
        var path = Path.Combine(_dir, "opset9", "m.onnx");
        var e = Assert.Throws<ModelCompilerException>(() => Llama2cImporter.Import(TestPaths.Checkpoint, null, path, opset: 9));
        Assert.Equal("MC1018", e.Code);
        Assert.Contains("opset 11 or 17, not 9", e.Message);
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void All_int8_at_opset_11_uses_contrib_per_channel_dequantize_and_matches_opset_17()
    {
        var yaml = CompileFixture.Yaml("  kind: all-int8", calibTokens: 1024, evalTokens: 1024);
        var r17 = _f.Compile("opset17-int8", yaml);
        var spec = _f.Spec("opset11-int8", yaml);
        var r11 = QuantizationCompiler.Compile(new CompileOptions(_model11, spec, Path.Combine(_dir, "out", "q11.onnx")), new CompileFixture.SilentReporter());

        Assert.True(r11.Passed);
        Assert.Equal(r17.Int8Layers, r11.Int8Layers);
        Assert.Equal(r11.Int8Layers, r11.Int8FusedOnCpu);
        var q = OnnxModelIO.Load(r11.Options.OutputPath);
        Assert.Equal(11, q.OpsetImport.Single(o => o.Domain == "").Version);
        var weightDq = q.Graph.Node.Where(n => n.OpType == "DequantizeLinear" && n.Input[0].EndsWith("weight_quantized", StringComparison.Ordinal)).ToList();
        Assert.Equal(r11.Int8Layers, weightDq.Count);
        Assert.All(weightDq, n => { Assert.Equal(QdqForm.MicrosoftDomain, n.Domain); Assert.Equal(1, Attr.GetInt(n, "axis", -1)); });
        // Same scales and weights as at opset 17, so the same perplexity (to rounding in a differently ordered graph).
        Assert.Equal(r17.Providers[0].QuantizedPerplexity, r11.Providers[0].QuantizedPerplexity, 1e-6);
        Assert.Equal(r17.Providers[0].Fp32Perplexity, r11.Providers[0].Fp32Perplexity, 1e-6);
    }
}

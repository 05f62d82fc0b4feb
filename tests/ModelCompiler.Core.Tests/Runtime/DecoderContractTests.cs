using Microsoft.ML.OnnxRuntime.Tensors;
using ModelCompiler.Runtime;
using ModelCompiler.Decoding;
using DecoderContract = ModelCompiler.Decoding.DecoderContract;

namespace ModelCompiler.Tests.Runtime;

/// <summary>The decoder contract on graphs other tools exported (../shared/models/thirdparty, random weights).</summary>
public sealed class DecoderContractTests
{
    private static string Model(string folder, string file) => Path.Combine(TestPaths.Shared, "models", "thirdparty", folder, file);

    [Theory]
    [InlineData("genai-tiny-random-llama-fp16", "model.onnx", TensorElementType.Float16, 1e-2)]
    [InlineData("ort-tiny-random-gpt2-fp32", "past.onnx", TensorElementType.Float, 1e-4)]
    [InlineData("ort-tiny-random-gpt2-fp16", "past.onnx", TensorElementType.Float16, 2e-2)]
    [InlineData("genai-dummy-lfm2", "decoder.onnx", TensorElementType.Float, 1e-4)]
    public void CachedSteps_MatchTheWholeSequence(string folder, string file, TensorElementType logitsType, double tolerance)
    {
        using var session = new DecoderSession(Model(folder, file));
        Assert.Equal(logitsType, session.Contract.Logits.Type);
        Assert.NotEmpty(session.Contract.States);
        long[] tokens = [1, 5, 9, 3];
        float[] whole;
        using (var step = session.Run(tokens)) whole = step.LogitsAt(tokens.Length - 1).ToArray();
        Assert.All(whole, v => Assert.True(float.IsFinite(v)));

        using var cache = new KvCache();
        using (session.Run(tokens.AsSpan(0, 3), cache)) { }
        using var last = session.Run(tokens.AsSpan(3), cache);
        var cached = last.LogitsAt(0).ToArray();
        Assert.Equal(whole.Length, cached.Length);
        var scale = Math.Max(1.0, whole.Max(Math.Abs));
        for (var i = 0; i < whole.Length; i++) Assert.True(Math.Abs(whole[i] - cached[i]) <= tolerance * scale, $"logit {i}: {whole[i]} vs {cached[i]}");
    }

    [Fact]
    public void Gpt2_PackedKvAndInt32Ids()
    {
        using var session = new DecoderSession(Model("ort-tiny-random-gpt2-fp32", "past.onnx"));
        var c = session.Contract;
        Assert.Equal(TensorElementType.Int32, c.InputIds.Type);
        Assert.All(c.States, s => Assert.Equal(DecoderStateKind.PackedKv, s.Kind));
        Assert.Equal("present_0", c.States[0].Output);
        Assert.Equal(2, c.States[0].InitialShape[0]);
        Assert.Equal(0, c.States[0].InitialShape[3]);
    }

    [Fact]
    public void Lfm2_ConvStatesAndKvLayersNotFromZero()
    {
        using var session = new DecoderSession(Model("genai-dummy-lfm2", "decoder.onnx"));
        var c = session.Contract;
        Assert.Contains(c.States, s => s.Kind == DecoderStateKind.State && s.SequenceAxis is null);
        Assert.Contains(c.States, s => s.Kind == DecoderStateKind.Key);
    }

    [Fact]
    public void Classifier_IsNotADecoder()
    {
        var e = Assert.Throws<ModelCompilerException>(() => new DecoderSession(Model("optimum-test-bert-classifier", "model.onnx")));
        Assert.Equal("MC1040", e.Code);
    }

    [Fact]
    public void UnfeedableInput_IsNamed()
    {
        var e = Assert.Throws<ModelCompilerException>(() => DecoderContract.Of(
            [("input_ids", TensorElementType.Int64, [-1, -1]), ("token_type_ids", TensorElementType.Int64, [-1, -1])],
            [("logits", TensorElementType.Float, [-1, -1, 10])], null));
        Assert.Equal("MC1040", e.Code);
        Assert.Contains("'token_type_ids'", e.Message);
    }
}

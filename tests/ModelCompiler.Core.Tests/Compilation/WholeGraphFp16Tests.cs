using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using ModelCompiler.Compilation;
using ModelCompiler.Onnx;
using ModelCompiler.Onnx.Proto;
using ModelCompiler.Tests;
using ModelCompiler.Tokenization;
using ModelCompiler.Transforms;
using DataType = ModelCompiler.Onnx.Proto.TensorProto.Types.DataType;

namespace ModelCompiler.Core.Tests.Compilation;

/// <summary>target: cuda converts the whole graph to fp16 (validated here on ORT CPU, which runs fp16 graphs).</summary>
public sealed class WholeGraphFp16Tests(CompileFixture f) : IClassFixture<CompileFixture>
{
    private static string Cuda(string policy) => CompileFixture.Yaml(policy, fallback: "fp16", calibTokens: 1024, evalTokens: 2048).Replace("target: cpu", "target: cuda", StringComparison.Ordinal);

    [Fact]
    public void PolicyNone_KeepsMostWeightsFp16_AndPerplexityWithinAThousandth()
    {
        var r = f.Compile("cuda-none", Cuda("  kind: none"));
        var cpu = Assert.Single(r.Providers, p => p.Provider == "cpu");
        Assert.InRange(Math.Abs(cpu.PerplexityIncreasePct), 0.0, 0.1);

        var path = Path.Combine(f.Dir, "out", "cuda-none.onnx");
        var model = OnnxModelIO.Load(path);
        long half = 0, full = 0;
        foreach (var t in model.Graph.Initializer)
        {
            if (t.DataType == (int)DataType.Float16) half += TensorData.ElementCount(t);
            else if (t.DataType == (int)DataType.Float) full += TensorData.ElementCount(t);
        }
        Assert.True(half >= 0.95 * (half + full), $"fp16 {half} of {half + full} float weight elements");

        // Independently of the compiler's evaluator: raw ORT runs of both models on the same ids, NLL computed here.
        var text = File.ReadAllText(Path.Combine(f.Dir, "data", "eval.txt"))[..2000];
        var ids = Llama2cTokenizer.Load(TestPaths.Tokenizer).Encode(text).Take(256).Select(i => (long)i).ToArray();
        var nll32 = MeanNll(f.ModelPath, ids);
        var nll16 = MeanNll(path, ids);
        Assert.InRange(Math.Abs(Math.Exp(nll16 - nll32) - 1), 0.0, 1e-3);
    }

    [Fact]
    public void PolicyNone_BlocksFragileOps_KeepsIoTypes_AndStoresTheTiedEmbeddingOnce()
    {
        f.Compile("cuda-none-2", Cuda("  kind: none"));
        var fp32 = OnnxModelIO.Load(f.ModelPath).Graph;
        var model = OnnxModelIO.Load(Path.Combine(f.Dir, "out", "cuda-none-2.onnx"));
        var g = new OnnxGraph(model.Graph);

        Assert.Equal(fp32.Input.Select(i => (i.Name, i.Type.TensorType.ElemType)), model.Graph.Input.Select(i => (i.Name, i.Type.TensorType.ElemType)));
        Assert.Equal(fp32.Output.Select(i => (i.Name, i.Type.TensorType.ElemType)), model.Graph.Output.Select(i => (i.Name, i.Type.TensorType.ElemType)));

        // Softmax, the RMSNorm reduction and its square read fp32 (a Cast to float in front).
        var fragile = model.Graph.Node.Where(n => n.OpType is "Softmax" or "ReduceMean").ToList();
        Assert.Equal(fp32.Node.Count(n => n.OpType is "Softmax" or "ReduceMean"), fragile.Count);
        foreach (var n in fragile)
        {
            var p = g.Producer(n.Input[0])!;
            if (n.OpType == "ReduceMean") { Assert.Equal("Mul", p.OpType); Assert.Equal(p.Input[0], p.Input[1]); p = g.Producer(p.Input[0])!; }
            Assert.Equal("Cast", p.OpType);
            Assert.Equal((long)DataType.Float, Attr.GetInt(p, "to", 0));
        }

        // The embedding is one fp16 tensor, read by the Gather and (through the Transpose) by lm_head.
        var embedding = Assert.Single(model.Graph.Initializer, t => t.Dims.SequenceEqual(fp32.Initializer.Single(i => i.Name == "model.embed_tokens.weight").Dims));
        Assert.Equal((int)DataType.Float16, embedding.DataType);
        Assert.Contains(g.Consumers(embedding.Name), n => n.OpType == "Gather");
        var transpose = Assert.Single(g.Consumers(embedding.Name), n => n.OpType == "Transpose");
        Assert.Contains(g.Consumers(transpose.Output[0]), n => n.OpType == "MatMul");
    }

    [Fact]
    public void Transform_IsDeterministic()
    {
        var bytes = Enumerable.Range(0, 2).Select(_ =>
        {
            var model = OnnxModelIO.Load(f.ModelPath);
            Assert.True(WholeGraphFp16Transform.Apply(model, new OnnxGraph(model.Graph), []));
            return model.ToByteArray();
        }).ToList();
        Assert.Equal(bytes[0], bytes[1]);
    }

    [Fact]
    public void AllInt8_TakesFp16Scales_AtOpset19_AndRunsOnOrtCpu()
    {
        var r = f.Compile("cuda-int8", Cuda("  kind: all-int8"));
        Assert.Equal(36, r.Int8Layers);
        var cpu = Assert.Single(r.Providers, p => p.Provider == "cpu");
        Assert.InRange(cpu.PerplexityIncreasePct, -2.0, 2.0);

        var model = OnnxModelIO.Load(Path.Combine(f.Dir, "out", "cuda-int8.onnx"));
        var g = new OnnxGraph(model.Graph);
        Assert.Equal(19, model.OpsetImport.Single(o => o.Domain == "").Version);
        var dq = model.Graph.Node.Where(n => n.OpType == "DequantizeLinear").ToList();
        Assert.NotEmpty(dq);
        Assert.All(dq, n => Assert.Equal((int)DataType.Float16, g.Initializer(n.Input[1])!.DataType));
    }

    /// <summary>Mean next-token NLL of <paramref name="ids"/> from one ORT CPU forward pass with empty KV.</summary>
    private static double MeanNll(string modelPath, long[] ids)
    {
        using var session = new InferenceSession(modelPath);
        var inputs = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(ids, [1, ids.Length])),
            NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(Enumerable.Repeat(1L, ids.Length).ToArray(), [1, ids.Length])),
            NamedOnnxValue.CreateFromTensor("position_ids", new DenseTensor<long>(Enumerable.Range(0, ids.Length).Select(i => (long)i).ToArray(), [1, ids.Length])),
        };
        foreach (var (name, meta) in session.InputMetadata.Where(m => m.Key.StartsWith("past_key_values.", StringComparison.Ordinal)))
            inputs.Add(NamedOnnxValue.CreateFromTensor(name, new DenseTensor<float>([1, meta.Dimensions[1], 0, meta.Dimensions[3]])));
        using var results = session.Run(inputs, ["logits"]);
        var logits = results[0].AsTensor<float>();
        var vocab = logits.Dimensions[2];
        double sum = 0;
        for (var t = 0; t + 1 < ids.Length; t++)
        {
            double max = double.NegativeInfinity;
            for (var v = 0; v < vocab; v++) max = Math.Max(max, logits[0, t, v]);
            double z = 0;
            for (var v = 0; v < vocab; v++) z += Math.Exp(logits[0, t, v] - max);
            sum += max + Math.Log(z) - logits[0, t, (int)ids[t + 1]];
        }
        return sum / (ids.Length - 1);
    }
}

using ModelCompiler.Onnx;
using ModelCompiler.Onnx.Proto;
using ModelCompiler.Runtime;
using DataType = ModelCompiler.Onnx.Proto.TensorProto.Types.DataType;

namespace ModelCompiler.Tests.Runtime;

/// <summary>A decoder exported without past_key_values: generation must feed it the whole sequence every step.</summary>
public sealed class NoCacheDecoderTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("mc-nocache");

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>logits at every position = one-hot(first token + 1): only the sequence's first token matters.</summary>
    private string FirstTokenModel()
    {
        const int vocab = 8;
        var table = new float[vocab * vocab];
        for (var t = 0; t < vocab; t++) table[t * vocab + (t + 1) % vocab] = 10f;
        var g = new GraphProto { Name = "first-token" };
        g.Input.Add(Info("input_ids", DataType.Int64));
        g.Output.Add(Info("logits", DataType.Float));
        g.Initializer.Add(TensorData.Floats("table", table, vocab, vocab));
        g.Initializer.Add(TensorData.Floats("zero", [0f]));
        g.Initializer.Add(TensorData.Int64s("s0", [0], 1));
        g.Initializer.Add(TensorData.Int64s("s1", [1], 1));
        g.Initializer.Add(TensorData.Int64s("axis1", [1], 1));
        var graph = new OnnxGraph(g);
        graph.AddNode("Gather", ["table", "input_ids"], ["rows"]);
        graph.AddNode("Slice", ["rows", "s0", "s1", "axis1"], ["first"]);
        graph.AddNode("Mul", ["rows", "zero"], ["zeros"]);
        graph.AddNode("Add", ["zeros", "first"], ["logits"]);
        var model = new ModelProto { IrVersion = 8, Graph = g };
        model.OpsetImport.Add(new OperatorSetIdProto { Version = 17 });
        var path = Path.Combine(_dir, "first-token.onnx");
        OnnxModelIO.Save(model, path);
        return path;

        static ValueInfoProto Info(string name, DataType type) =>
            new() { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type } } };
    }

    [Fact]
    public void Generate_RecomputesTheWholeSequence_WhenTheModelHasNoCache()
    {
        using var session = new DecoderSession(FirstTokenModel());
        Assert.Equal(0, session.Layers);
        var cached = TextGenerator.Generate(session, [1], 5).ToList();
        Assert.Equal([2, 2, 2, 2, 2], cached);
        Assert.Equal(cached, TextGenerator.GenerateWithoutCache(session, [1], 5));
    }

    [Fact]
    public void RunWithACache_OnAModelWithoutPast_IsRefused()
    {
        using var session = new DecoderSession(FirstTokenModel());
        using var cache = new KvCache();
        Assert.Throws<InvalidOperationException>(() => session.Run([1L], cache));
    }
}

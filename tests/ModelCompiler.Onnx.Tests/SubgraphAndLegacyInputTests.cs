using ModelCompiler.Onnx;
using ModelCompiler.Onnx.Proto;

namespace ModelCompiler.Onnx.Tests;

/// <summary>Graph edits must respect values read only inside subgraphs, and initializers that old exports list as inputs.</summary>
public sealed class SubgraphAndLegacyInputTests
{
    private static ValueInfoProto Info(string name) =>
        new() { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } } };

    /// <summary>x2 = Mul(x, two) is read only by the then-branch of an If: it is not dead.</summary>
    private static GraphProto GraphWithIf()
    {
        var then = new GraphProto { Name = "then" };
        then.Node.Add(new NodeProto { OpType = "Identity", Name = "then_id", Input = { "x2" }, Output = { "then_out" } });
        then.Output.Add(Info("then_out"));
        var otherwise = new GraphProto { Name = "else" };
        otherwise.Node.Add(new NodeProto { OpType = "Identity", Name = "else_id", Input = { "x" }, Output = { "else_out" } });
        otherwise.Output.Add(Info("else_out"));

        var g = new GraphProto { Name = "g" };
        g.Input.Add(Info("x"));
        g.Input.Add(new ValueInfoProto { Name = "cond", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Bool } } });
        g.Output.Add(Info("y"));
        g.Initializer.Add(TensorData.Floats("two", [2f]));
        var iff = new NodeProto { OpType = "If", Name = "if", Input = { "cond" }, Output = { "y" } };
        iff.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = then });
        iff.Attribute.Add(new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = otherwise });
        // The If comes first: only its subgraph's read of x2 orders it after the Mul.
        g.Node.Add(iff);
        g.Node.Add(new NodeProto { OpType = "Mul", Name = "mul", Input = { "x", "two" }, Output = { "x2" } });
        return g;
    }

    [Fact]
    public void Reads_IncludeOuterScopeNamesReadInSubgraphs()
    {
        var g = GraphWithIf();
        Assert.Contains("x2", OnnxGraph.Reads(g.Node[0]));
    }

    [Fact]
    public void TopologicalSort_OrdersAProducerBeforeTheSubgraphThatReadsIt()
    {
        var graph = new OnnxGraph(GraphWithIf());
        graph.TopologicalSort();
        Assert.Equal(["mul", "if"], graph.Proto.Node.Select(n => n.Name));
    }

    [Fact]
    public void RemoveUnusedInitializers_KeepsWhatOnlyASubgraphReads()
    {
        var g = GraphWithIf();
        g.Initializer.Add(TensorData.Floats("unused", [1f]));
        var graph = new OnnxGraph(g);
        Assert.Equal(1, graph.RemoveUnusedInitializers());
        Assert.Equal(["two"], g.Initializer.Select(t => t.Name));
    }

    [Fact]
    public void RemoveUnusedInitializers_AlsoDropsTheirLegacyGraphInputs()
    {
        var g = new GraphProto { Name = "legacy" };
        g.Input.Add(Info("x"));
        g.Input.Add(Info("w_old")); // IR < 4 style: every initializer is also an input
        g.Input.Add(Info("w_new"));
        g.Output.Add(Info("y"));
        g.Initializer.Add(TensorData.Floats("w_old", [1f]));
        g.Initializer.Add(TensorData.Floats("w_new", [2f]));
        g.Node.Add(new NodeProto { OpType = "Mul", Name = "mul", Input = { "x", "w_new" }, Output = { "y" } });

        new OnnxGraph(g).RemoveUnusedInitializers();

        Assert.Equal(["x", "w_new"], g.Input.Select(i => i.Name));
        Assert.Equal(["w_new"], g.Initializer.Select(t => t.Name));
    }
}

public sealed class ExternalDataBoundsTests
{
    [Theory]
    [InlineData(long.MaxValue, 64)]
    [InlineData(8, long.MaxValue)]
    [InlineData(long.MaxValue - 4, 8)]
    public void OffsetsAndLengthsThatOverflow_AreMc1003_NotACrash(long offset, long length)
    {
        var dir = ModelCompiler.Tests.TestPaths.NewTempDir("mc-bounds");
        File.WriteAllBytes(Path.Combine(dir, "w.bin"), new byte[256]);
        var path = Path.Combine(dir, "m.onnx");
        TestModels.WriteRaw(TestModels.WithExternalTensor("w.bin", offset, length), path);
        var e = Assert.Throws<ModelCompilerException>(() => OnnxModelIO.Load(path));
        Assert.Equal("MC1003", e.Code);
    }
}

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
    public void A_subgraph_scope_looks_up_outer_values_names_uniquely_and_adds_initializers_to_the_main_graph()
    {
        var g = GraphWithIf();
        var root = new OnnxGraph(g);
        var then = root.Scope(g.Node[0].Attribute[0].G);
        Assert.Same(root, then.Parent);
        Assert.Same(then, root.Subgraphs(g.Node[0]).Single(b => b.Attribute == "then_branch").Graph);
        Assert.Equal("mul", then.Producer("x2")!.Name); // produced in the outer scope
        Assert.Equal("then_id", then.Producer("then_out")!.Name);
        Assert.NotNull(then.Initializer("two"));
        Assert.True(then.IsGraphInput("x"));
        Assert.False(then.IsGraphInput("then_out"));
        Assert.Null(root.Producer("then_out")); // a subgraph's values are not the outer graph's

        Assert.Equal("else_out_1", root.UniqueName("else_out")); // names of every scope count
        Assert.Equal("x2_1", then.UniqueName("x2"));
        then.AddInitializer(TensorData.Floats("three", [3f]));
        Assert.Contains(g.Initializer, t => t.Name == "three");
        Assert.Empty(g.Node[0].Attribute[0].G.Initializer);

        // Nodes added to the branch out of order are sorted within the branch.
        var node = then.AddNode("Neg", ["x"], ["neg_x"], "neg");
        then.Proto.Node.RemoveAt(then.Proto.Node.Count - 1);
        then.Proto.Node.Insert(0, node);
        then.Proto.Node[1].Input[0] = "neg_x";
        then.Proto.Node.Insert(0, new NodeProto { OpType = "Identity", Name = "late", Input = { "then_out" }, Output = { "unused" } });
        root.TopologicalSort();
        Assert.Equal(["neg", "then_id", "late"], g.Node.Single(n => n.OpType == "If").Attribute[0].G.Node.Select(n => n.Name));
        Assert.Same(node, then.Proto.Node[0]);
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

using ModelCompiler.Onnx.Proto;

namespace ModelCompiler.Onnx.Tests;

public sealed class OnnxGraphTests
{
    /// <summary>
    /// x ─MatMul(w)→ a ─Relu→ b ─┐
    ///                 └──────────Add→ c ─Mul(c, c)→ d ─Identity→ y ;  e = Neg(b) is a side branch.
    /// </summary>
    private static GraphProto Diamond()
    {
        var g = new GraphProto { Name = "diamond" };
        g.Input.Add(TestModels.Info("x", 1, 4));
        g.Output.Add(TestModels.Info("y", 1, 4));
        g.Initializer.Add(TensorData.Floats("w", TestModels.Values(16, 1), 4, 4));
        g.Node.Add(TestModels.Node("MatMul", "mm", ["x", "w"], ["a"]));
        g.Node.Add(TestModels.Node("Relu", "relu", ["a"], ["b"]));
        g.Node.Add(TestModels.Node("Add", "add", ["a", "b"], ["c"]));
        g.Node.Add(TestModels.Node("Mul", "square", ["c", "c"], ["d"]));
        g.Node.Add(TestModels.Node("Neg", "neg", ["b"], ["e"]));
        g.Node.Add(TestModels.Node("Identity", "out", ["d"], ["y"]));
        return g;
    }

    private static void AssertTopological(GraphProto g)
    {
        var available = new HashSet<string>(g.Input.Select(i => i.Name).Concat(g.Initializer.Select(i => i.Name))) { "" };
        foreach (var n in g.Node)
        {
            foreach (var i in n.Input) Assert.True(available.Contains(i), $"node '{n.Name}' reads '{i}' before it is produced");
            available.UnionWith(n.Output);
        }
    }

    [Fact]
    public void TopologicalSort_OrdersEveryShuffleOfTheGraph()
    {
        var names = Diamond().Node.Select(n => n.Name).ToArray();
        var random = new Random(7);
        for (var trial = 0; trial < 50; trial++)
        {
            var g = Diamond();
            var shuffled = g.Node.OrderBy(_ => random.Next()).ToList();
            g.Node.Clear();
            g.Node.AddRange(shuffled);

            new OnnxGraph(g).TopologicalSort();
            AssertTopological(g);
            Assert.Equal(names.Order(), g.Node.Select(n => n.Name).Order());
        }
    }

    [Fact]
    public void TopologicalSort_KeepsAnAlreadySortedGraphUnchanged()
    {
        var g = Diamond();
        var before = g.Clone();
        new OnnxGraph(g).TopologicalSort();
        Assert.Equal(before, g);
    }

    [Fact]
    public void TopologicalSort_IsStable_AmongIndependentNodes()
    {
        // Reversed: out, neg, square, add, relu, mm. Ready first is mm; then relu; then, of add and neg (both ready
        // after relu), the one earlier in the current order (neg) goes first.
        var g = Diamond();
        var reversed = g.Node.Reverse().ToList();
        g.Node.Clear();
        g.Node.AddRange(reversed);
        new OnnxGraph(g).TopologicalSort();
        Assert.Equal(["mm", "relu", "neg", "add", "square", "out"], g.Node.Select(n => n.Name));
    }

    [Fact]
    public void TopologicalSort_ThrowsOnACycle()
    {
        var g = Diamond();
        g.Node.Add(TestModels.Node("Add", "loop1", ["x", "q"], ["p"]));
        g.Node.Add(TestModels.Node("Relu", "loop2", ["p"], ["q"]));
        var e = Assert.Throws<InvalidOperationException>(() => new OnnxGraph(g).TopologicalSort());
        Assert.Contains("cycle", e.Message);
    }

    [Fact]
    public void ProducerAndConsumers()
    {
        var graph = new OnnxGraph(Diamond());
        Assert.Equal("mm", graph.Producer("a")!.Name);
        Assert.Equal("out", graph.Producer("y")!.Name);
        Assert.Null(graph.Producer("x"));   // graph input
        Assert.Null(graph.Producer("w"));   // initializer
        Assert.Null(graph.Producer("nope"));

        Assert.Equal(["relu", "add"], graph.Consumers("a").Select(n => n.Name));
        Assert.Equal(["add", "neg"], graph.Consumers("b").Select(n => n.Name));
        Assert.Equal(["square"], graph.Consumers("c").Select(n => n.Name));   // Mul(c, c) counts once
        Assert.Equal(["mm"], graph.Consumers("w").Select(n => n.Name));
        Assert.Empty(graph.Consumers("y"));
        Assert.Empty(graph.Consumers("e"));

        Assert.True(graph.IsGraphOutput("y"));
        Assert.False(graph.IsGraphOutput("d"));
        Assert.True(graph.IsGraphInput("x"));
        Assert.False(graph.IsGraphInput("a"));
    }

    [Fact]
    public void IsGraphInput_IsFalseForAnInputThatIsAlsoAnInitializer()
    {
        var g = Diamond();
        g.Input.Add(TestModels.Info("w", 4, 4)); // old-style models list initializers as inputs too
        Assert.False(new OnnxGraph(g).IsGraphInput("w"));
    }

    [Fact]
    public void Indexes_FollowAddNode()
    {
        var graph = new OnnxGraph(Diamond());
        Assert.Null(graph.Producer("f"));   // builds the index
        Assert.Empty(graph.Consumers("e"));
        var node = graph.AddNode("Sigmoid", ["e"], ["f"]);
        Assert.Same(node, graph.Producer("f"));
        Assert.Equal([node], graph.Consumers("e"));
        Assert.Equal("Sigmoid", node.Name);
        Assert.Equal("Sigmoid_1", graph.AddNode("Sigmoid", ["f"], ["g"]).Name);
    }

    [Fact]
    public void Invalidate_PicksUpDirectProtoEdits()
    {
        var graph = new OnnxGraph(Diamond());
        Assert.Null(graph.Producer("z"));
        graph.Proto.Node.Add(TestModels.Node("Neg", "neg2", ["a"], ["z"]));
        graph.Invalidate();
        Assert.Equal("neg2", graph.Producer("z")!.Name);
        Assert.Contains(graph.Consumers("a"), n => n.Name == "neg2");
    }

    [Fact]
    public void UniqueName_AvoidsTensorNodeAndInitializerNames_AndNamesItHandedOut()
    {
        var graph = new OnnxGraph(Diamond());
        Assert.Equal("a_1", graph.UniqueName("a"));        // a tensor
        Assert.Equal("a_2", graph.UniqueName("a"));        // a_1 is taken now
        Assert.Equal("relu_1", graph.UniqueName("relu"));  // a node
        Assert.Equal("w_1", graph.UniqueName("w"));        // an initializer
        Assert.Equal("x_1", graph.UniqueName("x"));        // a graph input
        Assert.Equal("fresh", graph.UniqueName("fresh"));
        Assert.Equal("fresh_1", graph.UniqueName("fresh"));

        graph.AddInitializer(TensorData.Scalar("k", 1f));
        Assert.Equal("k_1", graph.UniqueName("k"));
    }

    [Fact]
    public void InitializerLookup()
    {
        var graph = new OnnxGraph(Diamond());
        Assert.Equal([4L, 4L], graph.Initializer("w")!.Dims);
        Assert.Null(graph.Initializer("a"));
        graph.AddInitializer(TensorData.Scalar("s", 2f));
        Assert.Equal([2f], TensorData.ReadFloats(graph.Initializer("s")!));
    }

    [Fact]
    public void RemoveUnusedInitializers_KeepsOnlyWhatNodesOrOutputsRead()
    {
        var g = Diamond();
        g.Initializer.Add(TensorData.Scalar("unused", 1f));
        g.Initializer.Add(TensorData.Scalar("y_init", 1f));
        g.Output.Add(TestModels.Info("y_init"));
        var graph = new OnnxGraph(g);
        Assert.NotNull(graph.Initializer("unused"));   // index built before the removal

        Assert.Equal(1, graph.RemoveUnusedInitializers());
        Assert.Null(graph.Initializer("unused"));
        Assert.Equal(["w", "y_init"], g.Initializer.Select(t => t.Name));
        Assert.Equal(0, graph.RemoveUnusedInitializers());
    }
}

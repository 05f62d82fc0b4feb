using ModelCompiler.Import;
using ModelCompiler.Onnx;
using ModelCompiler.Policies;
using ModelCompiler.Quantization;
using ModelCompiler.Tests;

namespace ModelCompiler.Core.Tests.Policies;

public sealed class RoleInferenceTests
{
    private static readonly string[] BlockRoles = ["q", "k", "v", "o", "gate", "up", "down"];

    [Fact]
    public void Hugging_Face_names_give_roles_and_depths()
    {
        var model = Llama2cImporter.Build(Llama2cCheckpoint.Load(TestPaths.Checkpoint), null);
        var graph = new OnnxGraph(model.Graph);
        var layers = LayerDiscovery.Find(graph);
        var roles = RoleInference.Infer(graph, layers);
        var expected = Enumerable.Range(0, 5).SelectMany(_ => BlockRoles).Append("lm_head").ToArray();
        Assert.Equal(expected, layers.Select(l => LayerRoles.Name(roles[l.Name])).ToArray());

        var depths = RoleInference.Depths(layers, roles);
        Assert.Equal(0, depths["model.layers.0.mlp.down_proj"]);
        Assert.Equal(0.5, depths["model.layers.2.self_attn.q_proj"]);
        Assert.Equal(1, depths["model.layers.4.mlp.up_proj"]);
        Assert.Equal(1, depths["lm_head"]);
    }

    [Fact]
    public void Without_names_the_graph_structure_gives_the_same_roles()
    {
        var model = Llama2cImporter.Build(Llama2cCheckpoint.Load(TestPaths.Checkpoint), null);
        var graph = new OnnxGraph(model.Graph);
        var named = LayerDiscovery.Find(graph);
        var namedRoles = RoleInference.Infer(graph, named);
        var expected = named.Select(l => LayerRoles.Name(namedRoles[l.Name])).ToArray();

        Anonymise(model.Graph);

        var anonymous = new OnnxGraph(model.Graph);
        var layers = LayerDiscovery.Find(anonymous);
        Assert.All(layers, l => Assert.Equal(LayerRole.Other, RoleInference.FromName(l.Name)));
        var roles = RoleInference.Infer(anonymous, layers);
        Assert.Equal(expected, layers.Select(l => LayerRoles.Name(roles[l.Name])).ToArray());
    }

    /// <summary>
    /// A merged decoder (both branches of its <c>If</c> hold the layers) without names: each branch layer's role comes
    /// from the structure of its own branch, the same roles as the plain graph's.
    /// </summary>
    [Fact]
    public void Without_names_the_layers_of_a_merged_decoders_branch_get_the_plain_graphs_roles()
    {
        var plain = Llama2cImporter.Build(Llama2cCheckpoint.Load(TestPaths.Checkpoint), null);
        Anonymise(plain.Graph);
        var plainGraph = new OnnxGraph(plain.Graph);
        var plainLayers = LayerDiscovery.Find(plainGraph);
        var plainRoles = RoleInference.Infer(plainGraph, plainLayers);
        Assert.DoesNotContain(LayerRole.Other, plainRoles.Values);

        var merged = new OnnxGraph(ModelCompiler.Core.Tests.Quantization.MergedDecoder.Merge(plain.Clone(), plain.Clone()).Graph);
        var layers = LayerDiscovery.Find(merged);
        Assert.All(layers, l => Assert.NotNull(l.Subgraph));
        var roles = RoleInference.Infer(merged, layers);
        Assert.Equal(plainLayers.Select(l => (l.Name, plainRoles[l.Name])), layers.Select(l => (l.Name, roles[l.Name])));
    }

    /// <summary>Node names "n{i}", every initializer "w{i}": no name says what a layer is.</summary>
    internal static void Anonymise(Onnx.Proto.GraphProto g)
    {
        for (var i = 0; i < g.Node.Count; i++) g.Node[i].Name = $"n{i}";
        var rename = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < g.Initializer.Count; i++)
        {
            rename[g.Initializer[i].Name] = $"w{i}";
            g.Initializer[i].Name = $"w{i}";
        }
        foreach (var node in g.Node)
            for (var j = 0; j < node.Input.Count; j++)
                if (rename.TryGetValue(node.Input[j], out var to)) node.Input[j] = to;
    }

    [Theory]
    [InlineData("model.layers.0.self_attn.q_proj", LayerRole.Q)]
    [InlineData("model.layers.11.mlp.down_proj", LayerRole.Down)]
    [InlineData("l0.q.w", LayerRole.Q)]
    [InlineData("layers.3.attention.wo", LayerRole.O)]
    [InlineData("layers.3.feed_forward.w1", LayerRole.Gate)]
    [InlineData("layers.3.feed_forward.w3", LayerRole.Up)]
    [InlineData("layers.3.feed_forward.w2", LayerRole.Down)]
    [InlineData("lm_head", LayerRole.LmHead)]
    [InlineData("transformer.h.0.mlp.c_fc", LayerRole.FcIn)] // GPT-2: the in-projection of an MLP without a gate
    [InlineData("transformer.h.0.ln_1", LayerRole.Other)]
    public void Names_from_several_producers(string name, LayerRole role) => Assert.Equal(role, RoleInference.FromName(name));
}

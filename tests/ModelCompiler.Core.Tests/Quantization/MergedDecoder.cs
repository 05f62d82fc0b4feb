using ModelCompiler.Onnx;
using ModelCompiler.Onnx.Proto;

namespace ModelCompiler.Core.Tests.Quantization;

/// <summary>
/// Builds a merged decoder the way Optimum's merger writes <c>decoder_model_merged.onnx</c>: one <c>If</c> on a bool
/// input <c>use_cache_branch</c> [1] whose then branch is the decoder with past and whose else branch the decoder
/// without past, both listing the If's outputs under the same names, every initializer hoisted to the main graph and
/// shared by both branches (branches read them from the outer scope). Both branches are copies of one graph here
/// (modelc's importer writes the with-past decoder only; it also runs from zero-length past), so their node and value
/// names repeat across the two scopes, as in an Optimum merge of two exports of one model.
/// </summary>
internal static class MergedDecoder
{
    public static ModelProto Merge(ModelProto withPast, ModelProto noPast)
    {
        var merged = withPast.Clone();
        var main = merged.Graph;
        var shared = main.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        foreach (var t in noPast.Graph.Initializer)
        {
            if (!shared.TryGetValue(t.Name, out var same) || !same.RawData.Equals(t.RawData))
                throw new ArgumentException($"initializer '{t.Name}' differs between the two decoders; this merger hoists shared ones only");
        }

        GraphProto Branch(GraphProto g, string name)
        {
            var b = new GraphProto { Name = name };
            b.Node.AddRange(g.Node.Select(n => n.Clone()));
            b.Output.AddRange(g.Output.Select(o => o.Clone()));
            b.ValueInfo.AddRange(g.ValueInfo.Select(v => v.Clone()));
            return b;
        }

        var then = Branch(withPast.Graph, "decoder_with_past");
        var @else = Branch(noPast.Graph, "decoder_no_past");
        main.Node.Clear();
        main.ValueInfo.Clear();
        main.Input.Add(new ValueInfoProto
        {
            Name = "use_cache_branch",
            Type = new TypeProto
            {
                TensorType = new TypeProto.Types.Tensor
                {
                    ElemType = (int)TensorProto.Types.DataType.Bool,
                    Shape = new TensorShapeProto { Dim = { new TensorShapeProto.Types.Dimension { DimValue = 1 } } },
                },
            },
        });
        var node = new NodeProto { OpType = "If", Name = "optimum::if", Input = { "use_cache_branch" } };
        node.Output.AddRange(main.Output.Select(o => o.Name));
        node.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = then });
        node.Attribute.Add(new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = @else });
        main.Node.Add(node);
        return merged;
    }

    /// <summary>Every node of <paramref name="graph"/> and of its subgraphs at any depth.</summary>
    public static IEnumerable<NodeProto> AllNodes(GraphProto graph) =>
        graph.Node.SelectMany(n => n.Attribute.SelectMany(a => (a.G is null ? a.Graphs : a.Graphs.Prepend(a.G)).SelectMany(AllNodes)).Prepend(n));

    public static GraphProto BranchOf(ModelProto model, string attribute) =>
        model.Graph.Node.Single(n => n.OpType == "If").Attribute.Single(a => a.Name == attribute).G;
}

using ModelCompiler.Onnx;
using ModelCompiler.Onnx.Proto;

namespace ModelCompiler.Transforms;

/// <summary>Removes what a rewrite left unused: nodes whose outputs nobody reads (in subgraphs too), then unused initializers.</summary>
public static class GraphCleanup
{
    public static void Run(OnnxGraph graph)
    {
        RemoveDeadNodes(graph.Proto);
        graph.Invalidate();
        graph.RemoveUnusedInitializers();
        graph.TopologicalSort();
    }

    /// <summary>Dead nodes of <paramref name="proto"/>, innermost subgraphs first (a subgraph's outputs are what it must keep).</summary>
    private static void RemoveDeadNodes(GraphProto proto)
    {
        foreach (var a in proto.Node.SelectMany(n => n.Attribute))
        {
            if (a.G is not null) RemoveDeadNodes(a.G);
            foreach (var g in a.Graphs) RemoveDeadNodes(g);
        }
        bool removed;
        do
        {
            removed = false;
            var read = new HashSet<string>(proto.Node.SelectMany(OnnxGraph.Reads), StringComparer.Ordinal);
            read.UnionWith(proto.Output.Select(o => o.Name));
            for (var i = proto.Node.Count - 1; i >= 0; i--)
            {
                if (proto.Node[i].Output.All(o => o.Length == 0 || !read.Contains(o)))
                {
                    proto.Node.RemoveAt(i);
                    removed = true;
                }
            }
        } while (removed);
    }
}

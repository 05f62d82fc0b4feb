using ModelCompiler.Onnx;

namespace ModelCompiler.Transforms;

/// <summary>Removes what a rewrite left unused: nodes whose outputs nobody reads, then unused initializers.</summary>
public static class GraphCleanup
{
    public static void Run(OnnxGraph graph)
    {
        var proto = graph.Proto;
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
        graph.Invalidate();
        graph.RemoveUnusedInitializers();
        graph.TopologicalSort();
    }
}

using ModelCompiler.Onnx.Proto;

namespace ModelCompiler.Onnx;

/// <summary>
/// Editing helpers over a <see cref="GraphProto"/>: initializer lookup, producers and consumers of a tensor,
/// unique names, topological order. Indexes are built on demand; call <see cref="Invalidate"/> after edits
/// made directly on the proto.
/// </summary>
/// <remarks>
/// A subgraph (an <c>If</c> branch, a <c>Loop</c>/<c>Scan</c> body) is edited through its <see cref="Scope"/>: lookups of
/// initializers, producers and graph inputs fall back to the outer scopes (a subgraph may read outer values), names are
/// unique across the whole model, and initializers it adds go to the main graph (outer-scope references are legal).
/// </remarks>
public sealed class OnnxGraph
{
    private Dictionary<string, TensorProto>? _initializers;
    private Dictionary<string, NodeProto>? _producers;
    private Dictionary<string, List<NodeProto>>? _consumers;
    private HashSet<string>? _names;
    private Dictionary<GraphProto, OnnxGraph>? _scopes;

    public OnnxGraph(GraphProto graph) => Proto = graph;

    private OnnxGraph(GraphProto graph, OnnxGraph parent)
    {
        Proto = graph;
        Parent = parent;
    }

    public GraphProto Proto { get; }

    /// <summary>The enclosing graph of a subgraph scope; null for the main graph.</summary>
    public OnnxGraph? Parent { get; }

    /// <summary>The main graph.</summary>
    public OnnxGraph Root => Parent?.Root ?? this;

    public void Invalidate()
    {
        _initializers = null;
        _producers = null;
        _consumers = null;
        _names = null;
        // Scopes stay the same objects (callers key on them); their indexes go stale with this graph's.
        if (_scopes is not null)
            foreach (var scope in _scopes.Values) scope.Invalidate();
    }

    /// <summary>This graph's own initializers (not those of outer scopes).</summary>
    public IReadOnlyDictionary<string, TensorProto> Initializers =>
        _initializers ??= Proto.Initializer.GroupBy(t => t.Name).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);

    /// <summary>The initializer named <paramref name="name"/> in this graph or, for a subgraph, an outer one.</summary>
    public TensorProto? Initializer(string name) => Initializers.GetValueOrDefault(name) ?? (DefinedHere(name) ? null : Parent?.Initializer(name));

    public bool IsGraphInput(string name) => Proto.Input.Any(i => i.Name == name)
        ? !Initializers.ContainsKey(name)
        : !DefinedHere(name) && Parent?.IsGraphInput(name) == true;

    /// <summary>The node that outputs <paramref name="tensor"/> (in this graph or an outer one), or null for graph inputs and initializers.</summary>
    public NodeProto? Producer(string tensor)
    {
        _producers ??= BuildProducers();
        return _producers.GetValueOrDefault(tensor) ?? (DefinedHere(tensor) ? null : Parent?.Producer(tensor));
    }

    /// <summary>The graph <paramref name="subgraph"/> (a graph attribute of a node at any depth below this one) as a scope; null: this graph.</summary>
    public OnnxGraph Scope(GraphProto? subgraph)
    {
        if (subgraph is null || ReferenceEquals(subgraph, Proto)) return this;
        return FindScope(subgraph) ?? throw new ArgumentException($"graph '{subgraph.Name}' is not a subgraph of '{Proto.Name}'", nameof(subgraph));
    }

    /// <summary>The subgraphs of <paramref name="node"/> (If branches, Loop/Scan bodies) as scopes, in attribute order.</summary>
    public IEnumerable<(string Attribute, OnnxGraph Graph)> Subgraphs(NodeProto node)
    {
        foreach (var a in node.Attribute)
        {
            if (a.G is not null) yield return (a.Name, Child(a.G));
            foreach (var g in a.Graphs) yield return (a.Name, Child(g));
        }
    }

    private OnnxGraph Child(GraphProto g)
    {
        _scopes ??= new Dictionary<GraphProto, OnnxGraph>(ReferenceEqualityComparer.Instance);
        if (!_scopes.TryGetValue(g, out var scope)) _scopes[g] = scope = new OnnxGraph(g, this);
        return scope;
    }

    private OnnxGraph? FindScope(GraphProto subgraph)
    {
        foreach (var node in Proto.Node)
            foreach (var (_, g) in Subgraphs(node))
            {
                if (ReferenceEquals(g.Proto, subgraph)) return g;
                if (g.FindScope(subgraph) is { } inner) return inner;
            }
        return null;
    }

    /// <summary>True when this graph itself defines <paramref name="name"/> (input, initializer or node output): it shadows outer scopes.</summary>
    private bool DefinedHere(string name)
    {
        if (Parent is null) return true;
        _producers ??= BuildProducers();
        return _producers.ContainsKey(name) || Initializers.ContainsKey(name) || Proto.Input.Any(i => i.Name == name);
    }

    /// <summary>Nodes that read <paramref name="tensor"/>, in graph order (graph outputs are not nodes).</summary>
    public IReadOnlyList<NodeProto> Consumers(string tensor)
    {
        _consumers ??= BuildConsumers();
        return _consumers.TryGetValue(tensor, out var list) ? list : [];
    }

    public bool IsGraphOutput(string tensor) => Proto.Output.Any(o => o.Name == tensor);

    /// <summary>A name not used by any tensor, node or initializer: <paramref name="baseName"/>, else baseName_1, _2...</summary>
    public string UniqueName(string baseName)
    {
        if (Parent is not null) return Root.UniqueName(baseName);
        _names ??= CollectNames();
        var name = baseName;
        for (var i = 1; _names.Contains(name); i++) name = $"{baseName}_{i}";
        _names.Add(name);
        return name;
    }

    /// <summary>Adds <paramref name="tensor"/> to the main graph (a subgraph reads it from the outer scope).</summary>
    public void AddInitializer(TensorProto tensor)
    {
        if (Parent is not null)
        {
            Root.AddInitializer(tensor);
            return;
        }
        Proto.Initializer.Add(tensor);
        if (_initializers is not null) _initializers[tensor.Name] = tensor;
        _names?.Add(tensor.Name);
    }

    public NodeProto AddNode(string opType, IEnumerable<string> inputs, IEnumerable<string> outputs, string? name = null, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = name ?? UniqueName(opType) };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        Proto.Node.Add(node);
        _producers = null;
        _consumers = null;
        Root._names?.UnionWith(node.Output.Append(node.Name));
        return node;
    }

    /// <summary>
    /// Removes initializers no node (subgraphs included) or graph output refers to, and the graph-input entries
    /// that older exports (IR &lt; 4, keep_initializers_as_inputs) list for them.
    /// </summary>
    public int RemoveUnusedInitializers()
    {
        var used = new HashSet<string>(Proto.Node.SelectMany(Reads), StringComparer.Ordinal);
        used.UnionWith(Proto.Output.Select(o => o.Name));
        var removed = new HashSet<string>(StringComparer.Ordinal);
        for (var i = Proto.Initializer.Count - 1; i >= 0; i--)
        {
            if (!used.Contains(Proto.Initializer[i].Name))
            {
                removed.Add(Proto.Initializer[i].Name);
                Proto.Initializer.RemoveAt(i);
            }
        }
        for (var i = Proto.Input.Count - 1; i >= 0; i--)
            if (removed.Contains(Proto.Input[i].Name)) Proto.Input.RemoveAt(i);
        if (removed.Count > 0) Invalidate();
        return removed.Count;
    }

    /// <summary>
    /// The names a node reads: its inputs plus every name read inside its subgraphs (If/Loop/Scan bodies may
    /// read outer-scope values). Names a subgraph defines itself are included too, which only ever keeps more.
    /// </summary>
    public static IEnumerable<string> Reads(NodeProto node)
    {
        foreach (var input in node.Input)
            if (input.Length > 0) yield return input;
        foreach (var a in node.Attribute)
        {
            if (a.G is not null)
                foreach (var name in a.G.Node.SelectMany(Reads)) yield return name;
            foreach (var g in a.Graphs)
                foreach (var name in g.Node.SelectMany(Reads)) yield return name;
        }
    }

    /// <summary>
    /// Reorders nodes topologically (Kahn's algorithm, stable: among ready nodes the earliest in the current
    /// order goes first, so an already sorted graph is unchanged), subgraphs included. Throws on a cycle.
    /// </summary>
    public void TopologicalSort()
    {
        foreach (var node in Proto.Node)
            foreach (var (_, sub) in Subgraphs(node))
                sub.TopologicalSort(); // names a subgraph reads from outer scopes count as available there

        var nodes = Proto.Node.ToList();
        var available = new HashSet<string>(StringComparer.Ordinal) { "" };
        available.UnionWith(Proto.Input.Select(i => i.Name));
        available.UnionWith(Proto.Initializer.Select(i => i.Name));

        var producerIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < nodes.Count; i++)
            foreach (var o in nodes[i].Output) producerIndex[o] = i;

        var pending = new int[nodes.Count];
        var dependents = new List<int>[nodes.Count];
        for (var i = 0; i < nodes.Count; i++) dependents[i] = [];
        for (var i = 0; i < nodes.Count; i++)
        {
            foreach (var input in Reads(nodes[i]).Distinct())
            {
                if (available.Contains(input) || !producerIndex.TryGetValue(input, out var p) || p == i) continue;
                pending[i]++;
                dependents[p].Add(i);
            }
        }

        var ready = new SortedSet<int>(Enumerable.Range(0, nodes.Count).Where(i => pending[i] == 0));
        var order = new List<NodeProto>(nodes.Count);
        while (ready.Count > 0)
        {
            var i = ready.Min;
            ready.Remove(i);
            order.Add(nodes[i]);
            foreach (var d in dependents[i])
                if (--pending[d] == 0) ready.Add(d);
        }
        if (order.Count != nodes.Count)
            throw new InvalidOperationException($"graph '{Proto.Name}' has a cycle; {nodes.Count - order.Count} nodes cannot be ordered.");

        Proto.Node.Clear();
        Proto.Node.AddRange(order);
        Invalidate();
    }

    private Dictionary<string, NodeProto> BuildProducers()
    {
        var map = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        foreach (var n in Proto.Node)
            foreach (var o in n.Output)
                if (o.Length > 0) map[o] = n;
        return map;
    }

    private Dictionary<string, List<NodeProto>> BuildConsumers()
    {
        var map = new Dictionary<string, List<NodeProto>>(StringComparer.Ordinal);
        foreach (var n in Proto.Node)
            foreach (var i in n.Input.Distinct())
            {
                if (i.Length == 0) continue;
                if (!map.TryGetValue(i, out var list)) map[i] = list = [];
                list.Add(n);
            }
        return map;
    }

    /// <summary>Every name in this graph and its subgraphs at any depth.</summary>
    private HashSet<string> CollectNames()
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        Collect(Proto, names);
        return names;

        static void Collect(GraphProto g, HashSet<string> names)
        {
            names.UnionWith(g.Input.Select(i => i.Name));
            names.UnionWith(g.Output.Select(i => i.Name));
            names.UnionWith(g.Initializer.Select(i => i.Name));
            names.UnionWith(g.ValueInfo.Select(i => i.Name));
            foreach (var n in g.Node)
            {
                names.Add(n.Name);
                names.UnionWith(n.Output);
                names.UnionWith(n.Input);
                foreach (var a in n.Attribute)
                {
                    if (a.G is not null) Collect(a.G, names);
                    foreach (var sub in a.Graphs) Collect(sub, names);
                }
            }
        }
    }
}

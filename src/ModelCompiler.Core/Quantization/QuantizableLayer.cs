using ModelCompiler.Onnx;
using ModelCompiler.Onnx.Proto;

namespace ModelCompiler.Quantization;

/// <summary>
/// A MatMul/Gemm whose weight is a constant: an initializer, possibly read through Transpose and/or Cast
/// (tied embeddings are exported that way). Named after its module, e.g. <c>model.layers.3.mlp.down_proj</c>.
/// </summary>
public sealed class QuantizableLayer
{
    public required string Name { get; init; }
    public required NodeProto Node { get; init; }
    /// <summary>The tensor the layer multiplies (input A).</summary>
    public required string ActivationInput { get; init; }
    /// <summary>The initializer the weight comes from (may be shared with other nodes).</summary>
    public required string WeightInitializer { get; init; }
    /// <summary>True when the initializer is read through Transpose (stored [out, in]).</summary>
    public required bool WeightTransposed { get; init; }
    public required long InFeatures { get; init; }
    public required long OutFeatures { get; init; }
    /// <summary>For Gemm: the weight input is used transposed (transB = 1), i.e. laid out [out, in] in the node.</summary>
    public bool GemmTransB { get; init; }
    /// <summary>
    /// The element type the node computes in: its weight's type as the node reads it (after any Cast). MatMul/Gemm take
    /// both inputs in one type, so this is the activation's type too (fp16 in an fp16 export).
    /// </summary>
    public TensorProto.Types.DataType ComputeType { get; init; } = TensorProto.Types.DataType.Float;

    public long Parameters => InFeatures * OutFeatures;

    /// <summary>The weight as the node consumes it, row-major [in, out].</summary>
    public float[] ReadWeightInOut(OnnxGraph graph)
    {
        var t = graph.Initializer(WeightInitializer)!;
        var w = TensorData.ReadFloats(t);
        var storedOutIn = WeightTransposed ^ GemmTransB;
        return storedOutIn ? TensorData.Transpose(w, (int)OutFeatures, (int)InFeatures) : w;
    }
}

/// <summary>Finds the quantizable layers of a graph.</summary>
public static class LayerDiscovery
{
    public static IReadOnlyList<QuantizableLayer> Find(OnnxGraph graph)
    {
        var layers = new List<QuantizableLayer>();
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in graph.Proto.Node)
        {
            if (node.Domain is not ("" or "ai.onnx") || node.OpType is not ("MatMul" or "Gemm") || node.Input.Count < 2) continue;
            if (node.OpType == "Gemm" && Attr.GetInt(node, "transA", 0) != 0) continue;
            if (!TryResolveWeight(graph, node.Input[1], out var initializer, out var transposed, out var castTo)) continue;
            var t = graph.Initializer(initializer)!;
            if (t.Dims.Count != 2 || (TensorProto.Types.DataType)t.DataType is not (TensorProto.Types.DataType.Float or TensorProto.Types.DataType.Float16 or TensorProto.Types.DataType.Bfloat16)) continue;

            var transB = node.OpType == "Gemm" && Attr.GetInt(node, "transB", 0) != 0;
            var storedOutIn = transposed ^ transB;
            var (inF, outF) = storedOutIn ? (t.Dims[1], t.Dims[0]) : (t.Dims[0], t.Dims[1]);
            var name = Unique(NameOf(node, initializer), used);
            layers.Add(new QuantizableLayer
            {
                Name = name, Node = node, ActivationInput = node.Input[0], WeightInitializer = initializer,
                WeightTransposed = transposed, InFeatures = inF, OutFeatures = outF, GemmTransB = transB,
                ComputeType = castTo ?? (TensorProto.Types.DataType)t.DataType,
            });
        }
        return layers;
    }

    /// <summary>
    /// The same layers in another copy of the graph (a clone of the model a decision was made on): found again by
    /// discovery and matched by name, node name and weight, so decisions never hold a node of another copy.
    /// </summary>
    public static IReadOnlyDictionary<string, QuantizableLayer> Bind(OnnxGraph graph, IEnumerable<QuantizableLayer> layers)
    {
        var found = Find(graph).ToDictionary(l => l.Name, StringComparer.Ordinal);
        var result = new Dictionary<string, QuantizableLayer>(StringComparer.Ordinal);
        foreach (var layer in layers)
        {
            if (!found.TryGetValue(layer.Name, out var other) || other.Node.Name != layer.Node.Name || other.WeightInitializer != layer.WeightInitializer)
                throw new InvalidOperationException($"layer '{layer.Name}' (node '{layer.Node.Name}', weight '{layer.WeightInitializer}') is not in this graph");
            result[layer.Name] = other;
        }
        return result;
    }

    /// <summary>Follows Transpose(perm 1,0) and Cast back to an initializer; <paramref name="castTo"/> is the type the Cast nearest the node gives.</summary>
    private static bool TryResolveWeight(OnnxGraph graph, string tensor, out string initializer, out bool transposed, out TensorProto.Types.DataType? castTo)
    {
        transposed = false;
        castTo = null;
        initializer = tensor;
        for (var depth = 0; depth < 4; depth++)
        {
            if (graph.Initializer(initializer) is not null && !graph.IsGraphInput(initializer)) return true;
            var producer = graph.Producer(initializer);
            if (producer is null || producer.Input.Count == 0) return false;
            if (producer.OpType == "Transpose")
            {
                var perm = Attr.Find(producer, "perm");
                if (perm is not null && !(perm.Ints.Count == 2 && perm.Ints[0] == 1 && perm.Ints[1] == 0)) return false;
                transposed = !transposed;
            }
            else if (producer.OpType == "Cast")
            {
                castTo ??= (TensorProto.Types.DataType)Attr.GetInt(producer, "to", 0);
            }
            else
            {
                return false;
            }
            initializer = producer.Input[0];
        }
        return false;
    }

    /// <summary>
    /// Optimum names nodes "/model/layers.0/self_attn/q_proj/MatMul": the module path is everything but the
    /// op segment. Otherwise the weight's name without ".weight", otherwise the node name.
    /// </summary>
    public static string NameOf(NodeProto node, string weight)
    {
        if (node.Name.Contains('/'))
        {
            var parts = node.Name.Trim('/').Split('/');
            if (parts.Length > 1 && parts[^1].StartsWith(node.OpType, StringComparison.Ordinal))
                return string.Join('.', parts[..^1]);
        }
        if (weight.EndsWith(".weight", StringComparison.Ordinal)) return weight[..^".weight".Length];
        return node.Name.Length > 0 ? node.Name : weight;
    }

    private static string Unique(string name, HashSet<string> used)
    {
        var candidate = name;
        for (var i = 1; !used.Add(candidate); i++) candidate = $"{name}_{i}";
        return candidate;
    }
}

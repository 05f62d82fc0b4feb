using ModelCompiler.Onnx;
using ModelCompiler.Onnx.Proto;

namespace ModelCompiler.Quantization;

/// <summary>
/// A MatMul/Gemm whose weight is a constant: an initializer, possibly read through Transpose and/or Cast
/// (tied embeddings are exported that way) or DequantizeLinear (a model already carrying int8 weights).
/// Named after its module, e.g. <c>model.layers.3.mlp.down_proj</c>.
/// </summary>
/// <remarks>
/// A layer is the unit a policy decides on: one module and weight. In a merged decoder (Optimum's
/// <c>decoder_model_merged.onnx</c>: an <c>If</c> on <c>use_cache_branch</c> whose branches are the decoder without and
/// with past) the same module appears once in each branch; the layer is its node in the branch calibration runs
/// (<see cref="Subgraph"/>), and the node in the other branch is a <see cref="Copies">copy</see> that gets the same
/// decision and the same quantization parameters.
/// </remarks>
public sealed class QuantizableLayer
{
    public required string Name { get; init; }
    public required NodeProto Node { get; init; }
    /// <summary>The tensor the layer multiplies (input A).</summary>
    public required string ActivationInput { get; init; }
    /// <summary>The initializer the weight comes from (may be shared with other nodes); for a <see cref="QuantizedWeight"/>, the integer tensor.</summary>
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

    /// <summary>The subgraph (an <c>If</c> branch) the node lives in; null for the main graph.</summary>
    public GraphProto? Subgraph { get; init; }

    /// <summary>The graph that holds <see cref="WeightInitializer"/>; null for the main graph.</summary>
    public GraphProto? WeightGraph { get; init; }

    /// <summary>The same module in other branches (the with-past branch of a merged decoder): same name, weight and decision.</summary>
    public IReadOnlyList<QuantizableLayer> Copies { get; init; } = [];

    /// <summary>The weight is already quantized: an integer initializer behind DequantizeLinear; null for a float weight.</summary>
    public QuantizedWeight? QuantizedWeight { get; init; }

    /// <summary>The activation input is the output of a DequantizeLinear: the layer's input is already quantized (a QDQ node unit).</summary>
    public bool ActivationQuantized { get; init; }

    /// <summary>This node and its copies: every node the layer's decision applies to.</summary>
    public IEnumerable<QuantizableLayer> Sites => Copies.Prepend(this);

    public long Parameters => InFeatures * OutFeatures;

    /// <summary>The scope of <see cref="Node"/> in <paramref name="root"/> (the main graph of the model the layer was found in).</summary>
    public OnnxGraph GraphIn(OnnxGraph root) => root.Scope(Subgraph);

    /// <summary>The weight as the node consumes it, row-major [in, out]; a quantized weight dequantized.</summary>
    public float[] ReadWeightInOut(OnnxGraph graph)
    {
        var t = Tensor(graph, WeightInitializer, WeightGraph)!;
        var w = QuantizedWeight is { } q ? q.Dequantized(t, n => Tensor(graph, n, WeightGraph)) : TensorData.ReadFloats(t);
        var storedOutIn = WeightTransposed ^ GemmTransB;
        return storedOutIn ? TensorData.Transpose(w, (int)OutFeatures, (int)InFeatures) : w;
    }

    /// <summary>An initializer of <paramref name="scope"/> (searched without building scope indexes: safe from several threads), else of the main graph.</summary>
    internal static TensorProto? Tensor(OnnxGraph root, string name, GraphProto? scope) =>
        scope?.Initializer.LastOrDefault(t => t.Name == name) ?? root.Initializer(name);
}

/// <summary>
/// A weight stored as integers behind <c>DequantizeLinear(x, scale, zero_point, axis)</c>: w = (x − zero_point) · scale,
/// per tensor or per <see cref="Axis"/> of the stored tensor.
/// </summary>
public sealed record QuantizedWeight(string Scale, string? ZeroPoint, int Axis, TensorProto.Types.DataType Type, NodeProto Node)
{
    /// <summary>int8 with a zero point of 0 everywhere, one scale per output channel: the form modelc's INT8 writes (ORT CPU fuses it).</summary>
    public bool IsSymmetricInt8PerChannel(Func<string, TensorProto?> tensor, int outputAxis, long outFeatures)
    {
        if (Type != TensorProto.Types.DataType.Int8 || Axis != outputAxis) return false;
        if (tensor(Scale) is not { } s || TensorData.ElementCount(s) != outFeatures) return false;
        return ZeroPoint is null || tensor(ZeroPoint) is not { } z || TensorData.ReadBytes(z).All(b => b == 0);
    }

    /// <summary>The stored tensor <paramref name="q"/> dequantized to fp32, in its stored layout.</summary>
    public float[] Dequantized(TensorProto q, Func<string, TensorProto?> tensor)
    {
        var bytes = TensorData.ReadBytes(q);
        var scale = TensorData.ReadFloats(tensor(Scale) ?? throw new InvalidOperationException($"scale '{Scale}' is not an initializer"));
        var zp = ZeroPoint is null || tensor(ZeroPoint) is not { } z ? new byte[scale.Length] : TensorData.ReadBytes(z);
        var signed = Type == TensorProto.Types.DataType.Int8;
        var dims = q.Dims.ToArray();
        // Elements along the axis repeat every `inner` values: [outer, dims[axis], inner] in row-major order.
        var inner = scale.Length == 1 ? bytes.Length : dims.Skip(Axis + 1).Aggregate(1L, (a, b) => a * b);
        var channels = scale.Length;
        var w = new float[bytes.Length];
        for (var i = 0; i < w.Length; i++)
        {
            var c = channels == 1 ? 0 : (int)(i / inner % channels);
            int v = signed ? (sbyte)bytes[i] : bytes[i];
            int z0 = signed ? (sbyte)zp[c] : zp[c];
            w[i] = (v - z0) * scale[c];
        }
        return w;
    }
}

/// <summary>
/// Finds the quantizable layers of a graph: in the main graph and in both branches of a merged decoder's
/// <c>use_cache_branch</c> If (layers in other subgraphs — Loop/Scan bodies, Ifs on computed conditions — are not
/// found: no calibration run can observe them, so they stay as they are).
/// </summary>
public static class LayerDiscovery
{
    /// <summary>The boolean graph input of an Optimum merged decoder that picks the with-past branch.</summary>
    public const string UseCacheBranch = "use_cache_branch";

    public static IReadOnlyList<QuantizableLayer> Find(OnnxGraph graph)
    {
        var layers = new List<QuantizableLayer>();
        Walk(graph, graph, new HashSet<string>(StringComparer.Ordinal), layers);
        return layers;
    }

    /// <summary>
    /// The layers of <paramref name="scope"/> in node order. A use_cache_branch If contributes its else branch (no past:
    /// what every run from an empty cache — calibration, evaluation, the first generation step — takes) as layers, and
    /// its then branch (with past) as copies of them, matched by name and weight; a module only the then branch has is
    /// not a layer (it is never calibrated).
    /// </summary>
    private static void Walk(OnnxGraph root, OnnxGraph scope, HashSet<string> used, List<QuantizableLayer> layers)
    {
        foreach (var node in scope.Proto.Node)
        {
            if (TryLayer(scope, node, used) is { } layer)
            {
                layers.Add(layer);
                continue;
            }
            if (!IsCacheBranchIf(root, node)) continue;
            var branches = scope.Subgraphs(node).ToDictionary(b => b.Attribute, b => b.Graph, StringComparer.Ordinal);
            if (!branches.TryGetValue("else_branch", out var noPast) || !branches.TryGetValue("then_branch", out var withPast)) continue;
            var copyNames = new HashSet<string>(used, StringComparer.Ordinal);
            var found = new List<QuantizableLayer>();
            Walk(root, noPast, used, found);
            var copies = new List<QuantizableLayer>();
            Walk(root, withPast, copyNames, copies);
            var byKey = copies.GroupBy(c => (c.Name, c.WeightInitializer)).ToDictionary(g => g.Key, g => g.ToList());
            foreach (var l in found)
            {
                var own = byKey.TryGetValue((l.Name, l.WeightInitializer), out var c) ? c.Where(SameShape(l)).ToList() : [];
                layers.Add(own.Count == 0 ? l : With(l, [.. l.Copies, .. own.SelectMany(o => o.Sites)]));
            }
        }
    }

    private static Func<QuantizableLayer, bool> SameShape(QuantizableLayer l) => c =>
        c.InFeatures == l.InFeatures && c.OutFeatures == l.OutFeatures && c.WeightTransposed == l.WeightTransposed && c.GemmTransB == l.GemmTransB
        && c.ComputeType == l.ComputeType && (c.QuantizedWeight is null) == (l.QuantizedWeight is null) && c.ActivationQuantized == l.ActivationQuantized;

    private static QuantizableLayer With(QuantizableLayer l, IReadOnlyList<QuantizableLayer> copies) => new()
    {
        Name = l.Name, Node = l.Node, ActivationInput = l.ActivationInput, WeightInitializer = l.WeightInitializer, WeightTransposed = l.WeightTransposed,
        InFeatures = l.InFeatures, OutFeatures = l.OutFeatures, GemmTransB = l.GemmTransB, ComputeType = l.ComputeType, Subgraph = l.Subgraph,
        WeightGraph = l.WeightGraph, QuantizedWeight = l.QuantizedWeight, ActivationQuantized = l.ActivationQuantized, Copies = copies,
    };

    /// <summary>An If whose condition is the main graph's <see cref="UseCacheBranch"/> input.</summary>
    public static bool IsCacheBranchIf(OnnxGraph root, NodeProto node) =>
        node.OpType == "If" && node.Domain is "" or "ai.onnx" && node.Input.Count == 1 && node.Input[0] == UseCacheBranch && root.IsGraphInput(UseCacheBranch);

    private static QuantizableLayer? TryLayer(OnnxGraph scope, NodeProto node, HashSet<string> used)
    {
        if (node.Domain is not ("" or "ai.onnx") || node.OpType is not ("MatMul" or "Gemm") || node.Input.Count < 2) return null;
        if (node.OpType == "Gemm" && Attr.GetInt(node, "transA", 0) != 0) return null;
        if (!TryResolveWeight(scope, node.Input[1], out var initializer, out var transposed, out var castTo, out var dq)) return null;
        var (t, weightGraph) = Owner(scope, initializer);
        var type = (TensorProto.Types.DataType)t.DataType;
        QuantizedWeight? quantized = null;
        if (dq is not null)
        {
            if (type is not (TensorProto.Types.DataType.Int8 or TensorProto.Types.DataType.Uint8)) return null;
            var scale = scope.Initializer(dq.Input[1]);
            if (scale is null || (TensorProto.Types.DataType)scale.DataType is not (TensorProto.Types.DataType.Float or TensorProto.Types.DataType.Float16 or TensorProto.Types.DataType.Bfloat16)) return null;
            var zp = dq.Input.Count > 2 && dq.Input[2].Length > 0 ? dq.Input[2] : null;
            if (zp is not null && scope.Initializer(zp) is null) return null;
            var axis = (int)Attr.GetInt(dq, "axis", 1);
            if (axis < 0) axis += t.Dims.Count;
            quantized = new QuantizedWeight(dq.Input[1], zp, axis, type, dq);
            castTo ??= (TensorProto.Types.DataType)scale.DataType;
        }
        else if (type is not (TensorProto.Types.DataType.Float or TensorProto.Types.DataType.Float16 or TensorProto.Types.DataType.Bfloat16))
        {
            return null;
        }
        if (t.Dims.Count != 2) return null;

        var transB = node.OpType == "Gemm" && Attr.GetInt(node, "transB", 0) != 0;
        var storedOutIn = transposed ^ transB;
        var (inF, outF) = storedOutIn ? (t.Dims[1], t.Dims[0]) : (t.Dims[0], t.Dims[1]);
        return new QuantizableLayer
        {
            Name = Unique(NameOf(node, initializer), used), Node = node, ActivationInput = node.Input[0], WeightInitializer = initializer,
            WeightTransposed = transposed, InFeatures = inF, OutFeatures = outF, GemmTransB = transB,
            ComputeType = castTo ?? type,
            Subgraph = scope.Parent is null ? null : scope.Proto,
            WeightGraph = weightGraph,
            QuantizedWeight = quantized,
            ActivationQuantized = scope.Producer(node.Input[0]) is { OpType: "DequantizeLinear" },
        };
    }

    /// <summary>The initializer and the graph (null: the main graph) that holds it, innermost scope first.</summary>
    private static (TensorProto Tensor, GraphProto? Graph) Owner(OnnxGraph scope, string name)
    {
        for (var g = scope; g is not null; g = g.Parent)
            if (g.Initializers.TryGetValue(name, out var t)) return (t, g.Parent is null ? null : g.Proto);
        throw new InvalidOperationException($"initializer '{name}' vanished");
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
            if (!found.TryGetValue(layer.Name, out var other) || other.Node.Name != layer.Node.Name || other.WeightInitializer != layer.WeightInitializer
                || other.Copies.Count != layer.Copies.Count)
                throw new InvalidOperationException($"layer '{layer.Name}' (node '{layer.Node.Name}', weight '{layer.WeightInitializer}') is not in this graph");
            result[layer.Name] = other;
        }
        return result;
    }

    /// <summary>
    /// Follows Transpose(perm 1,0) and Cast back to an initializer, also through one DequantizeLinear directly on it
    /// (<paramref name="dequantize"/>); <paramref name="castTo"/> is the type the Cast nearest the node gives.
    /// </summary>
    private static bool TryResolveWeight(OnnxGraph graph, string tensor, out string initializer, out bool transposed, out TensorProto.Types.DataType? castTo,
        out NodeProto? dequantize)
    {
        transposed = false;
        castTo = null;
        dequantize = null;
        initializer = tensor;
        for (var depth = 0; depth < 4; depth++)
        {
            if (graph.Initializer(initializer) is not null && !graph.IsGraphInput(initializer)) return true;
            if (dequantize is not null) return false; // DequantizeLinear reads the initializer itself
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
            else if (producer.OpType == "DequantizeLinear" && producer.Domain is "" or "ai.onnx" or "com.microsoft" && producer.Input.Count >= 2)
            {
                dequantize = producer;
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
    /// op segment. Otherwise the weight's name without ".weight" (and the "_quantized" that modelc and ORT's quantizer
    /// append to an int8 weight), otherwise the node name.
    /// </summary>
    public static string NameOf(NodeProto node, string weight)
    {
        if (weight.EndsWith(".weight_quantized", StringComparison.Ordinal)) weight = weight[..^"_quantized".Length];
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

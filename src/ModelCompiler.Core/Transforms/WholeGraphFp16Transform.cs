using ModelCompiler.Onnx;
using ModelCompiler.Onnx.Proto;
using DataType = ModelCompiler.Onnx.Proto.TensorProto.Types.DataType;

namespace ModelCompiler.Transforms;

/// <summary>
/// Whole-graph FP16 for the cuda target, after ONNX Runtime's float16 converter
/// (onnxruntime/python/tools/transformers/float16.py): every fp32 tensor becomes fp16 — initializers
/// (converted in place, so a tied embedding read by the Gather and, through a Transpose, by lm_head stays one
/// fp16 tensor), node outputs, Cast targets, Constant values and value_info — except around a block list of
/// numerically fragile nodes, which keep computing in fp32 behind Casts. Graph inputs and outputs keep their
/// types: a Cast to fp16 follows each fp32 input and a Cast back to fp32 precedes each fp32 output.
/// QDQ INT8 layers then take fp16 scales (QuantizeLinear/DequantizeLinear-19; the opset is raised from 13–18
/// to 19, moving Reduce* <c>axes</c> attributes to inputs as opset 18 requires).
/// </summary>
/// <remarks>
/// Block list (measured on stories260K, see docs/spec.md): the RMSNorm statistic — a Mul of a tensor by
/// itself (x², which overflows fp16 beyond |x| = 256), ReduceMean/ReduceSum*/Pow/Sqrt/Reciprocal, and the
/// elementwise nodes fed only by blocked nodes and constants (the +eps) — and Softmax/LogSoftmax/Exp/Log.
/// Values beyond fp16's range are clamped to ±65504 (e.g. a float.MinValue attention mask fill).
/// Graphs with an operator whose output type this pass does not know, or with subgraphs, are left alone
/// (<see cref="Apply"/> returns false) so the caller can fall back to per-layer FP16.
/// </remarks>
public static class WholeGraphFp16Transform
{
    /// <summary>Ops that stay fp32 (inputs cast up, outputs cast down).</summary>
    public static readonly IReadOnlySet<string> BlockedOps = new HashSet<string>(StringComparer.Ordinal)
    {
        "ReduceMean", "ReduceSum", "ReduceSumSquare", "ReduceL2", "ReduceLogSumExp", "Pow", "Sqrt", "Reciprocal",
        "Softmax", "LogSoftmax", "Exp", "Log", "Range", "TopK", "RandomUniformLike", "RandomNormalLike", "Multinomial",
    };

    private static readonly HashSet<string> Elementwise = new(StringComparer.Ordinal) { "Add", "Sub", "Mul", "Div" };

    // Output element type follows input 0 (or all inputs: same type by the op's schema).
    private static readonly HashSet<string> FollowInput0 = new(StringComparer.Ordinal)
    {
        "Add", "Sub", "Mul", "Div", "Pow", "Neg", "Abs", "Sqrt", "Reciprocal", "Exp", "Log", "Tanh", "Sigmoid", "Relu", "Erf",
        "Softmax", "LogSoftmax", "MatMul", "Gemm", "Reshape", "Transpose", "Unsqueeze", "Squeeze", "Concat", "Slice", "Expand",
        "Gather", "GatherElements", "GatherND", "Identity", "Split", "Flatten", "Tile", "Pad", "ReduceMean", "ReduceSum",
        "ReduceSumSquare", "ReduceMax", "ReduceMin", "ReduceL2", "ReduceLogSumExp", "Range", "Max", "Min", "Clip",
        "LayerNormalization", "Gelu", "HardSigmoid", "LeakyRelu", "Elu", "Selu", "Softplus", "Sin", "Cos", "Floor", "Ceil",
        "Round", "Sign", "Mod", "Trilu", "CumSum", "Einsum", "ScatterND", "ScatterElements", "Resize", "DepthToSpace", "SpaceToDepth",
    };

    private static readonly HashSet<string> BoolOut = new(StringComparer.Ordinal)
    {
        "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Not", "Xor", "IsNaN", "IsInf",
    };

    private static readonly HashSet<string> Int64Out = new(StringComparer.Ordinal) { "Shape", "Size", "ArgMax", "ArgMin", "NonZero" };

    private static readonly HashSet<string> AxesInputSince18 = new(StringComparer.Ordinal)
    {
        "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSumSquare",
    };

    private const int F32 = (int)DataType.Float;
    private const int F16 = (int)DataType.Float16;

    /// <summary>
    /// Converts <paramref name="model"/>'s graph in place. <paramref name="keepFp32"/> names nodes that must stay
    /// fp32 besides the block list (layers decided FP32). Returns false, changing nothing, when the graph is out of reach.
    /// </summary>
    public static bool Apply(ModelProto model, OnnxGraph graph, IEnumerable<NodeProto> keepFp32)
    {
        var keep = new HashSet<NodeProto>(keepFp32, ReferenceEqualityComparer.Instance);
        var proto = graph.Proto;
        var opset = model.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx")?.Version ?? 0;
        if (opset < 13 || proto.Node.Any(n => n.Domain is not ("" or "ai.onnx") || n.Attribute.Any(a => a.G is not null || a.Graphs.Count > 0)))
            return false;
        graph.TopologicalSort();

        var types = InferTypes(proto);
        if (types is null) return false;

        var hasQdq = proto.Node.Any(n => n.OpType is "QuantizeLinear" or "DequantizeLinear");
        if (hasQdq && opset < 19) UpgradeOpsetTo19(model, graph);

        var inits = graph.Initializers;
        // Decide which nodes stay fp32, in topological order.
        var blocked = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        var fp32Out = new HashSet<string>(StringComparer.Ordinal); // float tensors that blocked nodes produce
        foreach (var n in proto.Node)
        {
            var floatIns = n.Input.Where(i => i.Length > 0 && types.GetValueOrDefault(i) == F32).ToList();
            var block = BlockedOps.Contains(n.OpType) || keep.Contains(n)
                || (n.OpType == "Mul" && n.Input.Count == 2 && n.Input[0] == n.Input[1] && floatIns.Count == 2)
                || (Elementwise.Contains(n.OpType) && floatIns.Count > 0 && floatIns.Any(fp32Out.Contains)
                    && floatIns.All(i => fp32Out.Contains(i) || inits.ContainsKey(i)));
            if (!block) continue;
            blocked.Add(n);
            foreach (var o in n.Output) if (types.GetValueOrDefault(o) == F32) fp32Out.Add(o);
        }

        // Initializers: fp16 in place when any converted node reads them.
        var readByConverted = new HashSet<string>(proto.Node.Where(n => !blocked.Contains(n)).SelectMany(n => n.Input), StringComparer.Ordinal);
        var halfInits = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < proto.Initializer.Count; i++)
        {
            var t = proto.Initializer[i];
            if (t.DataType != F32 || !readByConverted.Contains(t.Name)) continue;
            proto.Initializer[i] = ToHalf(t);
            halfInits.Add(t.Name);
        }

        // Graph outputs that converted nodes produce: the node writes <name>_fp16, a Cast restores the fp32 output.
        var renamed = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var o in proto.Output)
        {
            if (types.GetValueOrDefault(o.Name) != F32) continue;
            var producer = proto.Node.FirstOrDefault(n => n.Output.Contains(o.Name));
            if (producer is null || blocked.Contains(producer)) continue;
            renamed[o.Name] = graph.UniqueName($"{o.Name}_fp16");
        }

        // The type each float tensor has after conversion.
        bool IsHalf(string t) => halfInits.Contains(t) || renamed.ContainsValue(t)
            || (types.GetValueOrDefault(t) == F32 && !inits.ContainsKey(t) && !fp32Out.Contains(t) && !graph.IsGraphInput(t));

        var casts = new Dictionary<(string, int), string>();
        var added = new List<NodeProto>();
        string CastTo(string tensor, int to)
        {
            if (casts.TryGetValue((tensor, to), out var c)) return c;
            c = graph.UniqueName(tensor + (to == F16 ? "_fp16" : "_fp32"));
            added.Add(new NodeProto { OpType = "Cast", Name = graph.UniqueName(c + "_Cast"), Input = { tensor }, Output = { c }, Attribute = { Attr.Int("to", to) } });
            casts[(tensor, to)] = c;
            return c;
        }

        foreach (var n in proto.Node.ToList())
        {
            var toHalf = !blocked.Contains(n);
            for (var i = 0; i < n.Input.Count; i++)
            {
                var name = n.Input[i];
                if (name.Length == 0) continue;
                if (renamed.TryGetValue(name, out var r)) name = n.Input[i] = r;
                var wasFloat = types.GetValueOrDefault(n.Input[i]) == F32 || renamed.ContainsValue(name);
                if (!wasFloat) continue;
                var half = IsHalf(name);
                if (toHalf && !half) n.Input[i] = CastTo(name, F16);
                else if (!toHalf && half) n.Input[i] = CastTo(name, F32);
            }
            for (var i = 0; i < n.Output.Count; i++)
                if (renamed.TryGetValue(n.Output[i], out var r)) n.Output[i] = r;
            if (!toHalf) continue;
            if (n.OpType == "Cast" && Attr.GetInt(n, "to", 0) == F32)
                Attr.Find(n, "to")!.I = F16;
            if (n.OpType is "Constant" or "ConstantOfShape" && Attr.Find(n, "value") is { T: { DataType: F32 } v } a)
                a.T = ToHalf(v);
        }
        foreach (var (output, internalName) in renamed)
            added.Add(new NodeProto { OpType = "Cast", Name = graph.UniqueName(output + "_Cast_fp32"), Input = { internalName }, Output = { output }, Attribute = { Attr.Int("to", F32) } });
        proto.Node.AddRange(added);

        foreach (var vi in proto.ValueInfo)
            if (vi.Type?.TensorType is { ElemType: F32 } tt && IsHalf(vi.Name)) tt.ElemType = F16;
        graph.Invalidate();
        graph.TopologicalSort();
        return true;
    }

    /// <summary>fp32 → fp16, round to nearest even, clamped to ±65504 so that no finite value becomes infinite.</summary>
    public static TensorProto ToHalf(TensorProto t) =>
        Fp16Transform.Lazy(t.Name, t.Dims.ToArray(), () => Fp16Transform.HalfBytes(TensorData.ReadFloats(t), clampToFinite: true));

    /// <summary>Element types of every tensor from the graph's inputs, initializers and per-op rules; null when an op is unknown.</summary>
    private static Dictionary<string, int>? InferTypes(GraphProto g)
    {
        var types = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var i in g.Input) types[i.Name] = i.Type?.TensorType?.ElemType ?? 0;
        foreach (var t in g.Initializer) types[t.Name] = t.DataType;
        foreach (var n in g.Node)
        {
            int In(int k) => k < n.Input.Count ? types.GetValueOrDefault(n.Input[k]) : 0;
            int? type = n.OpType switch
            {
                "Cast" => (int)Attr.GetInt(n, "to", 0),
                "Where" => In(1),
                "QuantizeLinear" => n.Input.Count > 2 ? In(2) : (int)DataType.Uint8,
                "DequantizeLinear" => In(1),
                "Constant" or "ConstantOfShape" => Attr.Find(n, "value")?.T?.DataType ?? F32,
                _ when BoolOut.Contains(n.OpType) => (int)DataType.Bool,
                _ when Int64Out.Contains(n.OpType) => (int)DataType.Int64,
                _ when FollowInput0.Contains(n.OpType) => In(0),
                _ => null,
            };
            if (type is null) return null;
            for (var k = 0; k < n.Output.Count; k++)
                types[n.Output[k]] = n.OpType is "TopK" && k == 1 ? (int)DataType.Int64 : type.Value;
        }
        return types;
    }

    /// <summary>QuantizeLinear/DequantizeLinear take fp16 scales from opset 19; opset 18 moved Reduce* axes to an input.</summary>
    private static void UpgradeOpsetTo19(ModelProto model, OnnxGraph graph)
    {
        foreach (var n in graph.Proto.Node)
        {
            if (!AxesInputSince18.Contains(n.OpType) || Attr.Find(n, "axes") is not { } axes) continue;
            var name = graph.UniqueName($"{n.Name}_axes");
            graph.AddInitializer(TensorData.Int64s(name, axes.Ints.ToArray(), axes.Ints.Count));
            n.Attribute.Remove(axes);
            n.Input.Add(name);
        }
        foreach (var o in model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx")) o.Version = 19;
        graph.Invalidate();
    }
}

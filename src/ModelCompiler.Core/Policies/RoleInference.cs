using System.Text.RegularExpressions;
using ModelCompiler.Onnx;
using ModelCompiler.Quantization;

namespace ModelCompiler.Policies;

/// <summary>
/// A layer's role and depth, from its name where the name says it (Hugging Face, GenAI builder, GPT-2, GPT-NeoX,
/// Phi, MPT, llama2.c-style short names) and otherwise from the graph's structure: the layer whose output reaches
/// the logits is lm_head; a layer whose output reaches exactly one other layer through element-wise ops only, an
/// activation among them (Gelu, FastGelu, Relu, Erf, Tanh, …), is fc_in and that layer fc_out; a layer 3 times (or
/// q + 2 kv) as wide out as in whose output is split or fed to a fused attention op is qkv; a MatMul whose output
/// goes through Sigmoid/SiLU next to a sibling on the same input is gate, the sibling up, and the layer fed by their
/// product down; three layers sharing one input are q, k, v in node order; a layer fed from attention (through
/// Reshape/Transpose of a MatMul, or a fused attention op) is o.
/// </summary>
public static partial class RoleInference
{
    public static IReadOnlyDictionary<string, LayerRole> Infer(OnnxGraph graph, IReadOnlyList<QuantizableLayer> layers)
    {
        var roles = new Dictionary<string, LayerRole>(StringComparer.Ordinal);
        foreach (var l in layers) roles[l.Name] = FromName(l.Name);
        if (roles.Values.All(r => r != LayerRole.Other)) return roles;

        // A layer inside a branch of a merged decoder is read in its branch (outer names resolve through the scope).
        var scopes = new Dictionary<object, OnnxGraph>(ReferenceEqualityComparer.Instance);
        OnnxGraph In(QuantizableLayer l) => l.Subgraph is null ? graph : scopes.TryGetValue(l.Subgraph, out var g) ? g : scopes[l.Subgraph] = l.GraphIn(graph);
        var byActivation = layers.GroupBy(l => l.ActivationInput, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        void Set(QuantizableLayer l, LayerRole r) { if (roles[l.Name] == LayerRole.Other) roles[l.Name] = r; }

        foreach (var l in layers)
        {
            if (ReachesOutput(In(l), l.Node.Output[0], LogitsName(graph, l.Subgraph), 3)) Set(l, LayerRole.LmHead);
        }
        // Before qkv: a fused gate_up whose width happens to be 3 × its input is still an MLP.
        var layerOfNode = layers.ToDictionary(l => (object)l.Node, l => l, ReferenceEqualityComparer.Instance);
        foreach (var l in layers)
        {
            if (roles[l.Name] is not (LayerRole.Other or LayerRole.FcIn)) continue;
            if (UngatedMlpOutput(In(l), l, layerOfNode) is { } fcOut)
            {
                Set(l, LayerRole.FcIn);
                Set(fcOut, LayerRole.FcOut);
            }
        }
        foreach (var l in layers)
        {
            if (IsFusedQkv(In(l), l)) Set(l, LayerRole.Qkv);
        }
        foreach (var group in byActivation.Values)
        {
            var gate = group.Count < 2 ? null : group.FirstOrDefault(l => In(l).Consumers(l.Node.Output[0]).Any(c => c.OpType is "Sigmoid" or "Silu" or "Swish"));
            if (gate is not null)
            {
                Set(gate, LayerRole.Gate);
                foreach (var other in group.Where(o => o != gate)) Set(other, LayerRole.Up);
            }
            else if (group.Count == 3)
            {
                Set(group[0], LayerRole.Q);
                Set(group[1], LayerRole.K);
                Set(group[2], LayerRole.V);
            }
        }
        foreach (var l in layers)
        {
            var scope = In(l);
            var producer = scope.Producer(l.ActivationInput);
            if (producer?.OpType == "Mul" && producer.Input.Any(i => layers.Any(u => roles[u.Name] == LayerRole.Up && u.Node.Output[0] == i)
                                                                     || scope.Producer(i)?.OpType is "Mul" or "Silu" or "Swish"))
            {
                Set(l, LayerRole.Down);
            }
            else if (ThroughReshapes(scope, l.ActivationInput) is { } from && (from.OpType == "MatMul" || IsFusedAttention(from))
                     && !byActivation[l.ActivationInput].Any(o => o != l))
            {
                Set(l, LayerRole.O);
            }
        }
        return roles;
    }

    /// <summary>Block index over (blocks − 1) from a "layers.N" / "h.N" / "lN." segment of the name, else the layer's position; lm_head is 1.</summary>
    public static IReadOnlyDictionary<string, double> Depths(IReadOnlyList<QuantizableLayer> layers, IReadOnlyDictionary<string, LayerRole> roles)
    {
        var blocks = layers.ToDictionary(l => l.Name, l => BlockIndex(l.Name), StringComparer.Ordinal);
        var known = blocks.Values.Where(b => b is not null).Select(b => b!.Value).ToList();
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        for (var i = 0; i < layers.Count; i++)
        {
            var l = layers[i];
            if (roles[l.Name] == LayerRole.LmHead) result[l.Name] = 1;
            else if (blocks[l.Name] is { } b && known.Count > 0) result[l.Name] = known.Max() > 0 ? (double)b / known.Max() : 0;
            else result[l.Name] = layers.Count > 1 ? (double)i / (layers.Count - 1) : 0;
        }
        return result;
    }

    public static LayerRole FromName(string name)
    {
        var n = name.ToLowerInvariant();
        if (n is "lm_head" or "output" or "classifier" || n.EndsWith("lm_head", StringComparison.Ordinal)) return LayerRole.LmHead;
        // Fused and ungated blocks: GPT-2 (Conv1D modules c_attn, c_proj, c_fc), GPT-NeoX/Falcon/BLOOM
        // (query_key_value, dense_h_to_4h, dense_4h_to_h), Phi-3 (qkv_proj, gate_up_proj), MPT (Wqkv), OPT/Phi-2 (fc1, fc2).
        // Phi-3's gate_up_proj holds gate and up in one weight whose output is split before SiLU: one MLP
        // in-projection, so fc_in (its down_proj stays down by name).
        var segments = n.Split('.', '/');
        var tail = segments[^1] is "weight" or "matmul" && segments.Length > 1 ? segments[^2] : segments[^1];
        var inMlp = n.Contains("mlp", StringComparison.Ordinal) || n.Contains("ffn", StringComparison.Ordinal);
        var inAttention = n.Contains("attn", StringComparison.Ordinal) || n.Contains("attention", StringComparison.Ordinal);
        if (tail is "c_attn" or "qkv_proj" or "query_key_value" or "wqkv" or "qkv" or "w_pack") return LayerRole.Qkv;
        if (tail is "c_fc" or "fc1" or "fc_in" or "dense_h_to_4h" or "gate_up_proj") return LayerRole.FcIn;
        if (tail is "fc2" or "fc_out" or "dense_4h_to_h" || (tail == "c_proj" && inMlp)) return LayerRole.FcOut;
        if (tail == "c_proj" && inAttention) return LayerRole.O;
        var last = n.Split('.', '/', '_').Where(p => p.Length > 0 && p is not "proj" and not "weight" and not "w" and not "matmul").LastOrDefault() ?? "";
        return last switch
        {
            "q" or "wq" or "query" => LayerRole.Q,
            "k" or "wk" or "key" => LayerRole.K,
            "v" or "wv" or "value" => LayerRole.V,
            "o" or "wo" or "out" or "dense" when inAttention || last is "o" or "wo" => LayerRole.O,
            "gate" or "w1" => LayerRole.Gate,
            "up" or "w3" => LayerRole.Up,
            "down" or "w2" => LayerRole.Down,
            _ => LayerRole.Other,
        };
    }

    private static int? BlockIndex(string name)
    {
        var m = BlockPattern().Match(name);
        return m.Success ? int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : null;
    }

    [GeneratedRegex(@"(?:^|[./_])(?:layers|layer|h|blocks|block|l)[._]?(\d+)(?:[./_]|$)")]
    private static partial Regex BlockPattern();

    /// <summary>
    /// Fused q/k/v: out = in + 2·kv with kv dividing in (3 × in for multi-head attention), and the output, past a
    /// bias Add, Reshape or Cast, is split (Split, Slice) or fed to a fused attention op.
    /// </summary>
    private static bool IsFusedQkv(OnnxGraph graph, QuantizableLayer l)
    {
        var extra = l.OutFeatures - l.InFeatures;
        if (extra <= 0 || extra % 2 != 0 || l.InFeatures % (extra / 2) != 0) return false;
        var frontier = new List<string> { l.Node.Output[0] };
        for (var hop = 0; hop < 3 && frontier.Count > 0; hop++)
        {
            var next = new List<string>();
            foreach (var c in frontier.SelectMany(graph.Consumers))
            {
                if (c.OpType is "Split" or "Slice" || IsFusedAttention(c)) return true;
                if (c.OpType is "Add" or "Reshape" or "Cast" or "Identity") next.AddRange(c.Output);
            }
            frontier = next;
        }
        return false;
    }

    private static bool IsFusedAttention(Onnx.Proto.NodeProto node) =>
        node.OpType is "Attention" or "MultiHeadAttention" or "GroupQueryAttention" or "PackedAttention" or "PackedMultiHeadAttention"
            or "DecoderMaskedMultiHeadAttention" or "SparseAttention";

    /// <summary>Ops an ungated MLP applies between its two projections: activations and the arithmetic of decomposed ones.</summary>
    private static readonly HashSet<string> MlpActivations = new(StringComparer.Ordinal) { "Gelu", "FastGelu", "BiasGelu", "QuickGelu", "Relu", "Erf", "Tanh", "Sigmoid", "Silu", "Swish" };

    private static readonly HashSet<string> ElementWise = new(StringComparer.Ordinal) { "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Cast", "Identity", "Slice", "Split" };

    /// <summary>
    /// The one layer that <paramref name="l"/>'s output reaches through element-wise ops that read nothing but that
    /// output and constants, an activation among them; null when there is none, several, or no activation.
    /// </summary>
    private static QuantizableLayer? UngatedMlpOutput(OnnxGraph graph, QuantizableLayer l, IReadOnlyDictionary<object, QuantizableLayer> layerOfNode)
    {
        var region = new HashSet<string>(StringComparer.Ordinal) { l.Node.Output[0] };
        var queue = new Queue<string>(region);
        var targets = new HashSet<QuantizableLayer>();
        var activated = false;
        var visited = new HashSet<object>(ReferenceEqualityComparer.Instance);
        while (queue.Count > 0 && visited.Count < 32)
        {
            foreach (var c in graph.Consumers(queue.Dequeue()))
            {
                if (layerOfNode.TryGetValue(c, out var target))
                {
                    if (region.Contains(target.ActivationInput)) targets.Add(target);
                    continue;
                }
                var isActivation = MlpActivations.Contains(c.OpType);
                if (!(isActivation || ElementWise.Contains(c.OpType)) || visited.Contains(c)) continue;
                if (!c.Input.All(i => i.Length == 0 || region.Contains(i) || IsConstant(graph, i))) continue;
                visited.Add(c);
                activated |= isActivation;
                foreach (var o in c.Output.Where(o => o.Length > 0 && region.Add(o))) queue.Enqueue(o);
            }
        }
        return activated && targets.Count == 1 ? targets.First() : null;
    }

    private static bool IsConstant(OnnxGraph graph, string tensor) =>
        (graph.Initializer(tensor) is not null && !graph.IsGraphInput(tensor)) || graph.Producer(tensor)?.OpType == "Constant";

    /// <summary>"logits", or inside a branch the branch output the <c>If</c> returns as "logits".</summary>
    private static string LogitsName(OnnxGraph root, Onnx.Proto.GraphProto? branch)
    {
        if (branch is null) return "logits";
        foreach (var node in root.Proto.Node.Where(n => n.OpType == "If"))
        {
            var k = node.Output.IndexOf("logits");
            if (k < 0) continue;
            foreach (var a in node.Attribute)
                if (ReferenceEquals(a.G, branch) && k < branch.Output.Count) return branch.Output[k].Name;
        }
        return "logits";
    }

    private static bool ReachesOutput(OnnxGraph graph, string tensor, string output, int hops)
    {
        for (var i = 0; i <= hops; i++)
        {
            if (tensor == output) return true;
            var next = graph.Consumers(tensor);
            if (next.Count != 1 || next[0].OpType is not ("Reshape" or "Add" or "Identity" or "Cast")) return false;
            tensor = next[0].Output[0];
        }
        return tensor == output;
    }

    private static Onnx.Proto.NodeProto? ThroughReshapes(OnnxGraph graph, string tensor)
    {
        for (var i = 0; i < 4; i++)
        {
            var p = graph.Producer(tensor);
            if (p is null || p.OpType is not ("Reshape" or "Transpose")) return p;
            tensor = p.Input[0];
        }
        return null;
    }
}

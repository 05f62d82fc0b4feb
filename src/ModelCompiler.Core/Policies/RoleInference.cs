using System.Text.RegularExpressions;
using ModelCompiler.Onnx;
using ModelCompiler.Quantization;

namespace ModelCompiler.Policies;

/// <summary>
/// A layer's role and depth, from its name where the name says it (Hugging Face, GenAI builder, llama2.c-style
/// short names) and otherwise from the graph's structure: the layer whose output reaches the logits is lm_head;
/// a MatMul whose output goes through Sigmoid/SiLU is gate, its sibling on the same input is up, and the layer
/// fed by their product is down; three layers sharing one input are q, k, v in node order; a layer fed from
/// attention (through Reshape/Transpose of a MatMul) is o.
/// </summary>
public static partial class RoleInference
{
    public static IReadOnlyDictionary<string, LayerRole> Infer(OnnxGraph graph, IReadOnlyList<QuantizableLayer> layers)
    {
        var roles = new Dictionary<string, LayerRole>(StringComparer.Ordinal);
        foreach (var l in layers) roles[l.Name] = FromName(l.Name);
        if (roles.Values.All(r => r != LayerRole.Other)) return roles;

        var byActivation = layers.GroupBy(l => l.ActivationInput, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        var nodeOf = layers.ToDictionary(l => l.Name, l => l.Node, StringComparer.Ordinal);
        void Set(QuantizableLayer l, LayerRole r) { if (roles[l.Name] == LayerRole.Other) roles[l.Name] = r; }

        foreach (var l in layers)
        {
            if (ReachesOutput(graph, l.Node.Output[0], "logits", 3)) Set(l, LayerRole.LmHead);
        }
        foreach (var group in byActivation.Values)
        {
            var gate = group.FirstOrDefault(l => graph.Consumers(l.Node.Output[0]).Any(c => c.OpType is "Sigmoid" or "Silu" or "Swish"));
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
            var producer = graph.Producer(l.ActivationInput);
            if (producer?.OpType == "Mul" && producer.Input.Any(i => layers.Any(u => roles[u.Name] == LayerRole.Up && u.Node.Output[0] == i)
                                                                     || graph.Producer(i)?.OpType is "Mul" or "Silu" or "Swish"))
            {
                Set(l, LayerRole.Down);
            }
            else if (ThroughReshapes(graph, l.ActivationInput)?.OpType == "MatMul" && !byActivation[l.ActivationInput].Any(o => o != l))
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
        // GPT-2 (Conv1D modules): attn.c_proj is the attention output, mlp.c_fc / mlp.c_proj the MLP's in and out
        // projections, i.e. up and down of an MLP without a gate; fc1/fc2 and fc_in/fc_out likewise.
        var segments = n.Split('.', '/');
        var tail = segments[^1] is "weight" or "matmul" && segments.Length > 1 ? segments[^2] : segments[^1];
        var inMlp = n.Contains("mlp", StringComparison.Ordinal) || n.Contains("ffn", StringComparison.Ordinal);
        if (tail is "c_fc" or "fc1" or "fc_in") return LayerRole.Up;
        if (tail is "fc2" or "fc_out" || (tail == "c_proj" && inMlp)) return LayerRole.Down;
        if (tail == "c_proj" && n.Contains("attn", StringComparison.Ordinal)) return LayerRole.O;
        var last = n.Split('.', '/', '_').Where(p => p.Length > 0 && p is not "proj" and not "weight" and not "w" and not "matmul").LastOrDefault() ?? "";
        return last switch
        {
            "q" or "wq" or "query" => LayerRole.Q,
            "k" or "wk" or "key" => LayerRole.K,
            "v" or "wv" or "value" => LayerRole.V,
            "o" or "wo" or "out" or "dense" when n.Contains("attn") || last is "o" or "wo" => LayerRole.O,
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

using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using ModelCompiler.Core.Tests.Quantization;
using ModelCompiler.Onnx;
using ModelCompiler.Onnx.Proto;
using ModelCompiler.Policies;
using ModelCompiler.Quantization;
using ModelCompiler.Tests;
using DataType = ModelCompiler.Onnx.Proto.TensorProto.Types.DataType;

namespace ModelCompiler.Core.Tests.Policies;

/// <summary>
/// Fused blocks (qkv, fc_in, fc_out): from producers' names, and from structure alone on graphs whose names say
/// nothing: a hand-built three-block graph that runs in ONNX Runtime, and the real ORT GPT-2 exports anonymised.
/// </summary>
public sealed class FusedRoleTests
{
    private const int Seq = 3, Dim = 16, Vocab = 40;

    [Theory]
    [InlineData("transformer.h.0.attn.c_attn", LayerRole.Qkv)]          // GPT-2 (Conv1D)
    [InlineData("model.layers.0.self_attn.qkv_proj", LayerRole.Qkv)]    // Phi-3
    [InlineData("gpt_neox.layers.2.attention.query_key_value", LayerRole.Qkv)]
    [InlineData("transformer.h.1.self_attention.query_key_value.weight", LayerRole.Qkv)] // Falcon, BLOOM
    [InlineData("transformer.blocks.0.attn.Wqkv", LayerRole.Qkv)]       // MPT
    [InlineData("transformer.h.0.mlp.c_fc", LayerRole.FcIn)]
    [InlineData("model.decoder.layers.1.fc1", LayerRole.FcIn)]          // OPT, Phi-2
    [InlineData("transformer.h.3.mlp.fc_in", LayerRole.FcIn)]           // GPT-J
    [InlineData("gpt_neox.layers.0.mlp.dense_h_to_4h", LayerRole.FcIn)]
    [InlineData("model.layers.0.mlp.gate_up_proj", LayerRole.FcIn)]     // Phi-3: gate and up in one weight
    [InlineData("transformer.h.0.mlp.c_proj", LayerRole.FcOut)]
    [InlineData("model.decoder.layers.1.fc2", LayerRole.FcOut)]
    [InlineData("transformer.h.3.mlp.fc_out", LayerRole.FcOut)]
    [InlineData("gpt_neox.layers.0.mlp.dense_4h_to_h", LayerRole.FcOut)]
    [InlineData("transformer.h.0.attn.c_proj", LayerRole.O)]
    [InlineData("gpt_neox.layers.0.attention.dense", LayerRole.O)]
    [InlineData("model.layers.0.self_attn.dense", LayerRole.O)]         // Phi-2
    [InlineData("model.layers.0.mlp.down_proj", LayerRole.Down)]        // Phi-3's out-projection keeps its name's role
    [InlineData("transformer.blocks.0.ffn.up_proj", LayerRole.Up)]      // MPT names its ungated MLP up/down
    public void Fused_and_ungated_names_of_several_producers(string name, LayerRole role) =>
        Assert.Equal(role, RoleInference.FromName(name));

    /// <summary>
    /// Block 0: GPT-2-like (qkv 3 × wide with bias, Split, one head; Gelu). Block 1: GQA (qkv = q + 2 kv, Slice,
    /// 4 query heads on 1 kv head; GELU written out with Erf). Block 2: Phi-3-like MLP only (one gate_up weight,
    /// Slice, SiLU × up). Then lm_head. Weights are named <c>l{block}.{a..e}.w</c> unless <paramref name="names"/> renames them.
    /// </summary>
    private static ModelProto HandBuilt(IReadOnlyDictionary<string, string>? names = null)
    {
        var g = new GraphProto { Name = "fused-blocks" };
        var graph = new OnnxGraph(g);
        var rng = new Random(11);
        string W(string name, params long[] dims)
        {
            var n = names?.GetValueOrDefault(name) ?? name;
            var values = Enumerable.Range(0, (int)dims.Aggregate(1L, (a, b) => a * b)).Select(_ => (float)(rng.NextDouble() - 0.5) * 0.5f).ToArray();
            graph.AddInitializer(TensorData.Floats(n, values, dims));
            return n;
        }
        string C(string name, params long[] values)
        {
            graph.AddInitializer(TensorData.Int64s(name, values, values.Length));
            return name;
        }
        string F(string name, float value)
        {
            graph.AddInitializer(TensorData.Scalar(name, value));
            return name;
        }
        var k = 0;
        string Op(string op, string[] inputs, params AttributeProto[] attributes)
        {
            var output = $"t{k++}";
            graph.AddNode(op, inputs, [output], "", attributes);
            return output;
        }
        string[] Ops(string op, string[] inputs, int outputs, params AttributeProto[] attributes)
        {
            var names = Enumerable.Range(0, outputs).Select(_ => $"t{k++}").ToArray();
            graph.AddNode(op, inputs, names, "", attributes);
            return names;
        }
        string Slice(string x, long start, long end) => Op("Slice", [x, C($"c{k}s", start), C($"c{k}e", end), C($"c{k}a", -1)]);

        g.Input.Add(TensorInfo.Of("x", DataType.Float, 1, Seq, Dim));
        g.Output.Add(TensorInfo.Of("logits", DataType.Float, 1, Seq, Vocab));
        var shape3 = C("shape3", 1, -1, Dim);

        // Block 0.
        var qkv = Op("Add", [Op("MatMul", ["x", W("l0.a.w", Dim, 3 * Dim)]), W("l0.a.b", 3 * Dim)]);
        var split = Ops("Split", [qkv, C("sizes", Dim, Dim, Dim)], 3, Attr.Int("axis", -1));
        var scores = Op("MatMul", [split[0], Op("Transpose", [split[1]], Attr.Ints("perm", 0, 2, 1))]);
        var context = Op("MatMul", [Op("Softmax", [scores], Attr.Int("axis", -1)), split[2]]);
        var h = Op("Add", ["x", Op("MatMul", [Op("Reshape", [context, shape3]), W("l0.b.w", Dim, Dim)])]);
        var fc = Op("Gelu", [Op("Add", [Op("MatMul", [h, W("l0.c.w", Dim, 4 * Dim)]), W("l0.c.b", 4 * Dim)])]);
        h = Op("Add", [h, Op("MatMul", [fc, W("l0.d.w", 4 * Dim, Dim)])]);

        // Block 1: head size 4, kv width 4.
        qkv = Op("MatMul", [h, W("l1.a.w", Dim, Dim + 2 * 4)]);
        var q = Op("Transpose", [Op("Reshape", [Slice(qkv, 0, Dim), C("qshape", 1, -1, 4, 4)])], Attr.Ints("perm", 0, 2, 1, 3));
        var kT = Op("Transpose", [Op("Reshape", [Slice(qkv, Dim, Dim + 4), C("kvshape", 1, -1, 1, 4)])], Attr.Ints("perm", 0, 2, 3, 1));
        var v = Op("Transpose", [Op("Reshape", [Slice(qkv, Dim + 4, Dim + 8), "kvshape"])], Attr.Ints("perm", 0, 2, 1, 3));
        context = Op("MatMul", [Op("Softmax", [Op("MatMul", [q, kT])], Attr.Int("axis", -1)), v]);
        context = Op("Reshape", [Op("Transpose", [context], Attr.Ints("perm", 0, 2, 1, 3)), shape3]);
        h = Op("Add", [h, Op("MatMul", [context, W("l1.b.w", Dim, Dim)])]);
        var up = Op("MatMul", [h, W("l1.c.w", Dim, 4 * Dim)]);
        var gelu = Op("Mul", [Op("Mul", [up, Op("Add", [Op("Erf", [Op("Div", [up, F("sqrt2", MathF.Sqrt(2))])]), F("one", 1)])]), F("half", 0.5f)]);
        h = Op("Add", [h, Op("MatMul", [gelu, W("l1.d.w", 4 * Dim, Dim)])]);

        // Block 2: gate and up in one weight.
        var gateUp = Op("MatMul", [h, W("l2.c.w", Dim, 4 * Dim)]);
        var gate = Slice(gateUp, 0, 2 * Dim);
        var silu = Op("Mul", [gate, Op("Sigmoid", [gate])]);
        h = Op("Add", [h, Op("MatMul", [Op("Mul", [silu, Slice(gateUp, 2 * Dim, 4 * Dim)]), W("l2.d.w", 2 * Dim, Dim)])]);

        graph.AddNode("MatMul", [h, W("l3.e.w", Dim, Vocab)], ["logits"], "");
        var model = new ModelProto { IrVersion = 9, Graph = g };
        model.OpsetImport.Add(new OperatorSetIdProto { Version = 20 });
        return model;
    }

    private static readonly string[] HandBuiltRoles = ["qkv", "o", "fc_in", "fc_out", "qkv", "o", "fc_in", "fc_out", "fc_in", "fc_out", "lm_head"];

    private static string[] Roles(ModelProto model)
    {
        var graph = new OnnxGraph(model.Graph);
        var layers = LayerDiscovery.Find(graph);
        var roles = RoleInference.Infer(graph, layers);
        return layers.Select(l => LayerRoles.Name(roles[l.Name])).ToArray();
    }

    [Fact]
    public void Hand_built_blocks_with_anonymous_names_get_their_roles_from_structure()
    {
        var model = HandBuilt();
        // A real graph: ONNX Runtime runs it.
        using (var session = new InferenceSession(model.ToByteArray()))
        {
            var x = Enumerable.Range(0, Seq * Dim).Select(i => MathF.Sin(i)).ToArray();
            using var results = session.Run([NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(x, [1, Seq, Dim]))]);
            Assert.All(results[0].AsTensor<float>().ToArray(), f => Assert.True(float.IsFinite(f)));
        }

        var layers = LayerDiscovery.Find(new OnnxGraph(model.Graph));
        Assert.Equal(["l0.a.w", "l0.b.w", "l0.c.w", "l0.d.w", "l1.a.w", "l1.b.w", "l1.c.w", "l1.d.w", "l2.c.w", "l2.d.w", "l3.e.w"], layers.Select(l => l.Name));
        Assert.All(layers, l => Assert.Equal(LayerRole.Other, RoleInference.FromName(l.Name)));
        Assert.Equal(HandBuiltRoles, Roles(model));
    }

    [Fact]
    public void Producers_names_on_the_same_blocks_agree_with_the_structure()
    {
        var names = new Dictionary<string, string>
        {
            ["l0.a.w"] = "transformer.h.0.attn.c_attn.weight", ["l0.b.w"] = "transformer.h.0.attn.c_proj.weight",
            ["l0.c.w"] = "transformer.h.0.mlp.c_fc.weight", ["l0.d.w"] = "transformer.h.0.mlp.c_proj.weight",
            ["l1.a.w"] = "gpt_neox.layers.1.attention.query_key_value.weight", ["l1.b.w"] = "gpt_neox.layers.1.attention.dense.weight",
            ["l1.c.w"] = "gpt_neox.layers.1.mlp.dense_h_to_4h.weight", ["l1.d.w"] = "gpt_neox.layers.1.mlp.dense_4h_to_h.weight",
            ["l2.c.w"] = "model.layers.2.mlp.gate_up_proj.weight", ["l2.d.w"] = "model.layers.2.mlp.fc2.weight",
            ["l3.e.w"] = "lm_head.weight",
        };
        Assert.Equal(HandBuiltRoles, Roles(HandBuilt(names)));
    }

    [Theory]
    [InlineData("ort-tiny-random-gpt2-fp32")]
    [InlineData("ort-tiny-random-gpt2-fp16")]
    public void Ort_gpt2_exports_anonymised_get_o_fc_in_fc_out_and_lm_head_from_structure(string folder)
    {
        var model = OnnxModelIO.Load(Path.Combine(TestPaths.Shared, "models", "thirdparty", folder, "past.onnx"), new List<string>());
        var named = Roles(model);
        RoleInferenceTests.Anonymise(model.Graph);
        var layers = LayerDiscovery.Find(new OnnxGraph(model.Graph));
        Assert.All(layers, l => Assert.Equal(LayerRole.Other, RoleInference.FromName(l.Name)));
        // n_layer 5: attention output (fed by the contrib Attention op), MLP in and out; the layer feeding logits.
        var expected = Enumerable.Range(0, 5).SelectMany(_ => new[] { "o", "fc_in", "fc_out" }).Append("lm_head").ToArray();
        Assert.Equal(expected, Roles(model));
        Assert.Equal(expected, named);
    }

    [Fact]
    public void GenAI_builder_llama_anonymised_gets_its_roles_from_structure()
    {
        // MultiHeadAttention feeds o_proj (a fused attention op, no MatMul to see through); SiLU is Sigmoid × x.
        var model = OnnxModelIO.Load(Path.Combine(TestPaths.Shared, "models", "thirdparty", "genai-tiny-random-llama-fp16", "model.onnx"), new List<string>());
        RoleInferenceTests.Anonymise(model.Graph);
        var expected = Enumerable.Range(0, 2).SelectMany(_ => new[] { "q", "k", "v", "o", "gate", "up", "down" }).Append("lm_head").ToArray();
        Assert.Equal(expected, Roles(model));
    }
}

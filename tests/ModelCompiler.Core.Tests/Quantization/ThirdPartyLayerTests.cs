using ModelCompiler.Onnx;
using ModelCompiler.Policies;
using ModelCompiler.Quantization;
using ModelCompiler.Tests;

namespace ModelCompiler.Core.Tests.Quantization;

/// <summary>
/// Layer discovery and role inference on graphs that other producers exported (../shared/models/thirdparty).
/// Expected names are the producers' own module paths (read from the graphs' weight and node names); shapes are
/// the configs' hidden/intermediate/vocab sizes (config.json / genai_config.json beside each model).
/// </summary>
public sealed class ThirdPartyLayerTests
{
    private static List<(string Name, string Role, long In, long Out)> Discover(string folder, string file)
    {
        var model = OnnxModelIO.Load(Path.Combine(TestPaths.Shared, "models", "thirdparty", folder, file), new List<string>());
        var graph = new OnnxGraph(model.Graph);
        var layers = LayerDiscovery.Find(graph);
        var roles = RoleInference.Infer(graph, layers);
        return layers.Select(l => (l.Name, LayerRoles.Name(roles[l.Name]), l.InFeatures, l.OutFeatures)).ToList();
    }

    [Fact]
    public void GenAI_builder_llama_fp16_layers_are_named_after_modules_with_roles()
    {
        var layers = Discover("genai-tiny-random-llama-fp16", "model.onnx");
        // 2 blocks × 7 projections + lm_head; hidden 16, intermediate 64, vocab 32000.
        Assert.Equal(15, layers.Count);
        var expected = new List<(string, string, long, long)>();
        for (var i = 0; i < 2; i++)
        {
            expected.Add(($"model.layers.{i}.attn.q_proj", "q", 16, 16));
            expected.Add(($"model.layers.{i}.attn.k_proj", "k", 16, 16));
            expected.Add(($"model.layers.{i}.attn.v_proj", "v", 16, 16));
            expected.Add(($"model.layers.{i}.attn.o_proj", "o", 16, 16));
            expected.Add(($"model.layers.{i}.mlp.gate_proj", "gate", 16, 64));
            expected.Add(($"model.layers.{i}.mlp.up_proj", "up", 16, 64));
            expected.Add(($"model.layers.{i}.mlp.down_proj", "down", 64, 16));
        }
        expected.Add(("lm_head", "lm_head", 16, 32000));
        Assert.Equal(expected, layers);
    }

    [Theory]
    [InlineData("ort-tiny-random-gpt2-fp32")]
    [InlineData("ort-tiny-random-gpt2-fp16")]
    public void Ort_gpt2_converter_layers_get_o_fc_in_fc_out_and_lm_head(string folder)
    {
        var layers = Discover(folder, "past.onnx");
        // n_layer 5, n_embd 32, inner 4 × 32; logits 1000 wide. The fused q/k/v weight feeds the contrib Attention
        // op, not a MatMul, so it is not a quantizable layer.
        var expected = new List<(string, string, long, long)>();
        for (var i = 0; i < 5; i++)
        {
            expected.Add(($"transformer.h.{i}.attn.c_proj", "o", 32, 32));
            expected.Add(($"transformer.h.{i}.mlp.c_fc", "fc_in", 32, 128));
            expected.Add(($"transformer.h.{i}.mlp.c_proj", "fc_out", 128, 32));
        }
        expected.Add(("lm_head", "lm_head", 32, 1000));
        Assert.Equal(expected, layers);
    }

    [Fact]
    public void Lfm2_dummy_has_only_its_lm_head_as_a_constant_weight_matmul()
    {
        var layers = Discover("genai-dummy-lfm2", "decoder.onnx");
        Assert.Equal([("lm_head_weight", "lm_head", 32L, 1000L)], layers);
    }

    [Theory]
    [InlineData("model.layers.3.mlp.down_proj", LayerRole.Down)]
    [InlineData("transformer.h.0.mlp.c_fc", LayerRole.FcIn)]
    [InlineData("transformer.h.0.mlp.c_proj", LayerRole.FcOut)]
    [InlineData("transformer.h.0.attn.c_proj", LayerRole.O)]
    [InlineData("model.decoder.layers.1.fc1", LayerRole.FcIn)]
    [InlineData("model.decoder.layers.1.fc2", LayerRole.FcOut)]
    [InlineData("l0.w2", LayerRole.Down)]
    public void Roles_from_names_follow_the_producers_conventions(string name, LayerRole role) =>
        Assert.Equal(role, RoleInference.FromName(name));
}

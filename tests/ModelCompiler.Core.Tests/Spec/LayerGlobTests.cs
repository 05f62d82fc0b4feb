using ModelCompiler.Spec;

namespace ModelCompiler.Tests.Spec;

public class LayerGlobTests
{
    [Theory]
    [InlineData("*", "model.layers.0.mlp.down_proj", true)]
    [InlineData("*", "", true)]
    [InlineData("", "", true)]
    [InlineData("", "a", false)]
    [InlineData("lm_head", "lm_head", true)]
    [InlineData("lm_head", "lm_head2", false)]
    [InlineData("lm_head", "model.lm_head", false)]
    [InlineData("*.down_proj", "model.layers.0.mlp.down_proj", true)]
    [InlineData("*.down_proj", "model.layers.11.mlp.down_proj", true)]
    [InlineData("*.down_proj", "model.layers.0.mlp.up_proj", false)]
    [InlineData("*.down_proj", "down_proj", false)]
    [InlineData("*down_proj", "down_proj", true)]
    [InlineData("model.layers.?.mlp.*", "model.layers.3.mlp.gate_proj", true)]
    [InlineData("model.layers.?.mlp.*", "model.layers.13.mlp.gate_proj", false)]
    [InlineData("model.layers.??.*", "model.layers.13.self_attn.q_proj", true)]
    [InlineData("model.layers.*.self_attn.*_proj", "model.layers.5.self_attn.o_proj", true)]
    [InlineData("model.layers.*.self_attn.*_proj", "model.layers.5.mlp.o_proj", false)]
    [InlineData("*a*b*c*", "xxaxxbxxcxx", true)]
    [InlineData("*a*b*c*", "xxcxxbxxaxx", false)]
    [InlineData("a**b", "ab", true)]
    [InlineData("?", "", false)]
    [InlineData("LM_HEAD", "lm_head", false)]
    [InlineData("*.Down_Proj", "model.layers.0.mlp.down_proj", false)]
    public void Matches_whole_names(string pattern, string name, bool expected)
    {
        Assert.Equal(expected, LayerGlob.IsMatch(pattern, name));
    }

    [Fact]
    public void Stays_fast_on_patterns_that_backtrack()
    {
        // Many stars against a long near-miss: exponential matchers take forever here.
        var pattern = string.Concat(Enumerable.Repeat("*a", 30)) + "b";
        var name = new string('a', 5000);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        Assert.False(LayerGlob.IsMatch(pattern, name));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void Matches_any_of_a_list()
    {
        Assert.True(LayerGlob.IsMatchAny(["lm_head", "*.down_proj"], "model.layers.0.mlp.down_proj"));
        Assert.False(LayerGlob.IsMatchAny(["lm_head", "*.down_proj"], "model.layers.0.mlp.up_proj"));
        Assert.False(LayerGlob.IsMatchAny([], "lm_head"));
    }
}

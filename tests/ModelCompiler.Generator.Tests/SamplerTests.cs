using ModelCompiler.Runtime;

namespace ModelCompiler.Generator.Tests;

/// <summary>The runtime library's sampler against distributions computed here, independently.</summary>
public sealed class SamplerTests
{
    private static readonly float[] Logits = [0.5f, 2.0f, -1.0f, 1.5f, 0.0f];

    private static double[] Softmax(float[] logits, double temperature)
    {
        var e = logits.Select(l => Math.Exp(l / temperature)).ToArray();
        double sum = e.Sum();
        return e.Select(x => x / sum).ToArray();
    }

    private static double[] Frequencies(TokenSampler sampler, int draws)
    {
        var counts = new double[Logits.Length];
        for (int i = 0; i < draws; i++)
        {
            counts[sampler.Next(Logits)]++;
        }

        return counts.Select(c => c / draws).ToArray();
    }

    [Fact]
    public void Default_options_choose_the_argmax()
    {
        Assert.Equal(1, new TokenSampler().Next(Logits));
        Assert.Equal(1, new TokenSampler(new GenerationOptions { Temperature = 5f, TopK = 1 }).Next(Logits));
    }

    [Fact]
    public void Temperature_sampling_follows_the_softmax()
    {
        var expected = Softmax(Logits, 0.8);
        var observed = Frequencies(new TokenSampler(new GenerationOptions { Temperature = 0.8f, Seed = 7 }), 40_000);

        for (int i = 0; i < expected.Length; i++)
        {
            Assert.InRange(observed[i], expected[i] - 0.01, expected[i] + 0.01);
        }
    }

    [Fact]
    public void Top_k_and_top_p_keep_only_the_most_likely_tokens()
    {
        // Top-2 of the logits: ids 1 and 3, renormalised.
        var top2 = Softmax([2.0f, 1.5f], 1.0);
        var k = Frequencies(new TokenSampler(new GenerationOptions { Temperature = 1f, TopK = 2, Seed = 1 }), 20_000);
        Assert.Equal(0, k[0] + k[2] + k[4]);
        Assert.InRange(k[1], top2[0] - 0.015, top2[0] + 0.015);

        // Nucleus 0.5: id 1 alone holds p = 0.44 < 0.5, so ids 1 and 3 (0.44 + 0.27) form the nucleus.
        var full = Softmax(Logits, 1.0);
        Assert.True(full[1] < 0.5 && full[1] + full[3] >= 0.5);
        var p = Frequencies(new TokenSampler(new GenerationOptions { Temperature = 1f, TopP = 0.5f, Seed = 2 }), 20_000);
        Assert.Equal(0, p[0] + p[2] + p[4]);
        Assert.InRange(p[1], (full[1] / (full[1] + full[3])) - 0.015, (full[1] / (full[1] + full[3])) + 0.015);
    }

    [Fact]
    public void The_same_seed_draws_the_same_tokens()
    {
        var options = new GenerationOptions { Temperature = 1.2f, TopP = 0.9f, Seed = 42 };
        var a = new TokenSampler(options);
        var b = new TokenSampler(options);
        Assert.Equal(Enumerable.Range(0, 50).Select(_ => a.Next(Logits)), Enumerable.Range(0, 50).Select(_ => b.Next(Logits)));
    }

    [Fact]
    public void Invalid_options_are_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenSampler(new GenerationOptions { TopP = 0f }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenSampler(new GenerationOptions { TopK = -1 }));
    }
}

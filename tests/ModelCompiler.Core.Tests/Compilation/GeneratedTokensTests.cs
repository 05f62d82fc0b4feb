using ModelCompiler.Compilation;
using ModelCompiler.Runtime;
using ModelCompiler.Tests.Runtime;

namespace ModelCompiler.Tests.Compilation;

[Collection(Stories260KCollection.Name)]
public sealed class GeneratedTokensTests(Stories260KFixture f)
{
    [Fact]
    public void BatchedSampling_GivesTheWindowsThatSamplingEachAloneGives()
    {
        // 10 full windows of 16 and one of 5: groups of 8, 2 and 1 rows.
        const int context = 16, count = 10 * context + 5;
        var stream = GeneratedTokens.Sample(f.ModelPath, count, context, seed: 3, "calibration");
        var tokens = stream.Tokens.ToArray();
        Assert.Equal(count, tokens.Length);

        for (var w = 0; w * context < count; w++)
        {
            var window = tokens.Skip(w * context).Take(context).ToArray();
            Assert.Equal(1, window[0]); // BOS
            // The reference: one window alone through TextGenerator, seeded as the sampler seeds it.
            var alone = TextGenerator.Generate(f.Session, [1], window.Length - 1, new SamplingOptions(1f, 1f, unchecked(3 * 7919 + w))).ToArray();
            Assert.Equal(alone, window[1..]);
        }
    }

    [Fact]
    public void Sampling_IsReproducibleAndSeeded()
    {
        var a = GeneratedTokens.Sample(f.ModelPath, 64, 32, seed: 5, "evaluation").Tokens.ToArray();
        var b = GeneratedTokens.Sample(f.ModelPath, 64, 32, seed: 5, "evaluation").Tokens.ToArray();
        var c = GeneratedTokens.Sample(f.ModelPath, 64, 32, seed: 6, "evaluation").Tokens.ToArray();
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }
}

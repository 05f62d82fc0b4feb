using System.Text;
using ModelCompiler.Runtime;
using Xunit.Abstractions;

namespace ModelCompiler.Tests.Runtime;

[Collection(Stories260KCollection.Name)]
public sealed class GenerationTests(Stories260KFixture f, ITestOutputHelper output)
{
    /// <summary>models/README.md: greedy decoding from BOS alone yields text starting with this.</summary>
    private const string GreedyFromBos = " Once upon a time, there was a little girl named Lily. She loved to play outside in the park.";

    private const int Bos = 1;
    private const int Eos = 2;

    [Fact]
    public void GreedyFromBos_TellsTheKnownStory()
    {
        var ids = TextGenerator.Generate(f.Session, [Bos], 40, SamplingOptions.Greedy, stopToken: Eos).ToList();
        Assert.Equal(40, ids.Count);

        // Raw: the vocabulary pieces as they are, so the leading space of the first word stays.
        var raw = string.Concat(ids.Select(f.Tokenizer.GetPiece));
        output.WriteLine(raw);
        Assert.StartsWith(GreedyFromBos, raw, StringComparison.Ordinal);

        // Decoded: Decode treats the sequence as following BOS and drops that leading space.
        Assert.StartsWith(GreedyFromBos.TrimStart(), f.Tokenizer.Decode(ids.ToArray()), StringComparison.Ordinal);
    }

    [Fact]
    public void GreedyFromBos_MatchesTheReferenceModel()
    {
        var onnx = TextGenerator.Generate(f.Session, [Bos], 40).ToList();
        Assert.Equal(f.Reference.Greedy([Bos], 40), onnx);
    }

    [Fact]
    public void KvCacheDecoding_EqualsDecodingWithoutCache_FromARealPrompt()
    {
        var prompt = new List<int> { Bos };
        prompt.AddRange(f.Tokenizer.Encode("Tom and his big dog went to the park. They saw a"));
        var withCache = TextGenerator.Generate(f.Session, prompt, 30).ToList();
        var withoutCache = TextGenerator.GenerateWithoutCache(f.Session, prompt, 30);
        output.WriteLine(f.Tokenizer.Decode(withCache.ToArray()));

        Assert.Equal(30, withCache.Count);
        Assert.Equal(withoutCache, withCache);
        Assert.Equal(f.Reference.Greedy(prompt, 30), withCache);
    }

    [Fact]
    public void Generate_StopsAtTheStopToken_WithoutYieldingIt()
    {
        // stories260K's greedy story does not reach EOS within 60 tokens; stop instead at the word that is 20th.
        var all = TextGenerator.Generate(f.Session, [Bos], 60).ToList();
        Assert.Equal(60, all.Count);
        Assert.DoesNotContain(Eos, all);
        var stop = all[20];
        var firstAt = all.IndexOf(stop);
        var stopped = TextGenerator.Generate(f.Session, [Bos], 60, stopToken: stop).ToList();
        Assert.Equal(all.Take(firstAt), stopped);
    }

    [Fact]
    public void Generate_ZeroTokensAndBadArguments()
    {
        Assert.Empty(TextGenerator.Generate(f.Session, [Bos], 0));
        Assert.Throws<ArgumentException>(() => TextGenerator.Generate(f.Session, [], 5).ToList());
        Assert.Throws<ArgumentOutOfRangeException>(() => TextGenerator.Generate(f.Session, [Bos], -1).ToList());
    }

    [Fact]
    public void Sampling_IsReproducibleForASeed_AndVariesAcrossSeeds()
    {
        var options = new SamplingOptions(Temperature: 1f, TopP: 0.95f, Seed: 123);
        var a = TextGenerator.Generate(f.Session, [Bos], 40, options).ToList();
        var b = TextGenerator.Generate(f.Session, [Bos], 40, options).ToList();
        Assert.Equal(a, b);

        var others = Enumerable.Range(1, 4)
            .Select(seed => TextGenerator.Generate(f.Session, [Bos], 40, options with { Seed = seed }).ToList());
        Assert.Contains(others, o => !o.SequenceEqual(a));
        Assert.All(others, o => Assert.All(o, id => Assert.InRange(id, 0, 511)));
    }

    [Fact]
    public void TinyTopP_IsGreedy()
    {
        var greedy = TextGenerator.Generate(f.Session, [Bos], 30).ToList();
        var nucleus = TextGenerator.Generate(f.Session, [Bos], 30, new SamplingOptions(Temperature: 1.5f, TopP: 1e-6f, Seed: 9)).ToList();
        Assert.Equal(greedy, nucleus);
    }

    [Fact]
    public void Pick_SamplesFromTheNucleusInProportion()
    {
        // Probabilities 0.5, 0.3, 0.15, 0.05 at temperature 1.
        float[] logits = [MathF.Log(0.5f), MathF.Log(0.3f), MathF.Log(0.15f), MathF.Log(0.05f)];
        var random = new Random(5);
        var counts = new int[4];
        const int draws = 20_000;
        for (var i = 0; i < draws; i++) counts[TextGenerator.Pick(logits, new SamplingOptions(1f, 0.7f), random)]++;
        // top_p 0.7: the smallest prefix reaching 0.7 is {0, 1} (mass 0.8); renormalised 0.625 / 0.375.
        Assert.Equal(0, counts[2] + counts[3]);
        Assert.InRange(counts[0] / (double)draws, 0.60, 0.65);

        counts = new int[4];
        for (var i = 0; i < draws; i++) counts[TextGenerator.Pick(logits, new SamplingOptions(1f, 1f), random)]++;
        Assert.InRange(counts[3] / (double)draws, 0.04, 0.06);
        Assert.InRange(counts[2] / (double)draws, 0.13, 0.17);

        Assert.Equal(0, TextGenerator.Pick(logits, SamplingOptions.Greedy, random));
    }

    [Fact]
    public void LowTemperature_ConcentratesOnTheArgmax()
    {
        float[] logits = [0f, 1f, 0.5f];
        var random = new Random(1);
        for (var i = 0; i < 1000; i++) Assert.Equal(1, TextGenerator.Pick(logits, new SamplingOptions(0.01f), random));
    }
}

using ModelCompiler.Generator.Model;
using ModelCompiler.Generator.Parsing;
using ModelCompiler.Generator.Tests.Infrastructure;

namespace ModelCompiler.Generator.Tests;

public sealed class ParserTests
{
    private static readonly ManifestOptions Options = new(true, "StoryModel", "Demo", "public", null, null);

    [Theory]
    [InlineData("input_ids", "InputIds")]
    [InlineData("past_key_values.0.key", "PastKeyValues0Key")]
    [InlineData("present.0.value", "Present0Value")]
    [InlineData("stories260K.q", "Stories260KQ")]
    [InlineData("logits", "Logits")]
    [InlineData("0abc", "_0abc")]
    [InlineData("class", "Class")]
    [InlineData("__", "")]
    [InlineData("größe", "Größe")]
    public void Pascal_case_names(string name, string expected)
        => Assert.Equal(expected, Identifiers.ToPascalCase(name));

    [Fact]
    public void Parses_the_stories_fixture_into_a_decoder_model()
    {
        var result = ManifestParser.Parse("/p/stories260K.manifest.json", Fixtures.Stories, Options, CancellationToken.None);

        Assert.Empty(result.Diagnostics);
        var model = Assert.IsType<WrapperModel>(result.Model);
        Assert.Equal("Demo.StoryModel.g.cs", model.HintName);
        Assert.Equal("stories260K.q.onnx", model.ModelPath);
        Assert.Equal(13, model.Inputs.Count);
        Assert.Equal(11, model.Outputs.Count);
        Assert.Equal(new Dimension(4, null), model.Inputs[3].Tensor.Shape[1]);
        var decoder = Assert.IsType<DecoderModel>(model.Decoder);
        Assert.Equal((5, 4, 8, 512L, 1L, 2L), (decoder.NumLayers, decoder.NumKvHeads, decoder.HeadDim, decoder.VocabSize, decoder.BosTokenId, decoder.EosTokenId));
        var plan = Assert.IsType<GreedyPlan>(decoder.Greedy);
        Assert.Equal(10, plan.Inputs.Count(i => i.Role == GreedyInputRole.State));
        Assert.Equal(("past_key_values.4.value", "present.4.value"), (plan.States[9].Input, plan.States[9].Output));
        Assert.Equal([1L, 4, 0, 8], plan.States[0].InitialShape);
        Assert.Equal(2, plan.States[0].SequenceAxis);
        Assert.Equal([2L], plan.EosTokenIds);
    }

    [Fact]
    public void Equal_input_gives_equal_models()
    {
        var a = ManifestParser.Parse("/p/m.json", Fixtures.Stories, Options, CancellationToken.None);
        var b = ManifestParser.Parse("/p/m.json", Fixtures.Stories, Options with { }, CancellationToken.None);

        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
    }

    [Fact]
    public void Every_truncation_and_corruption_gives_diagnostics_not_exceptions()
    {
        string text = Fixtures.Stories;
        for (int length = 0; length < text.Length; length += 7)
        {
            var result = ManifestParser.Parse("/p/m.json", text[..length], Options, CancellationToken.None);
            Assert.Null(result.Model);
            Assert.NotEmpty(result.Diagnostics);
        }

        var random = new Random(1234);
        const string Alphabet = "{}[]\",:0123456789-.eE truefalsnul\\u";
        for (int i = 0; i < 2000; i++)
        {
            var chars = text.ToCharArray();
            for (int j = 0; j < 3; j++)
            {
                chars[random.Next(chars.Length)] = Alphabet[random.Next(Alphabet.Length)];
            }

            var result = ManifestParser.Parse("/p/m.json", new string(chars), Options, CancellationToken.None);
            Assert.True(result.Model is not null || !result.Diagnostics.IsEmpty);
        }
    }
}

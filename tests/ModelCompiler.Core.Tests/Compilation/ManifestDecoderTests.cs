using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using ModelCompiler.Compilation;
using ModelCompiler.Onnx;
using ModelCompiler.Runtime;
using ModelCompiler.Decoding;
using DecoderContract = ModelCompiler.Decoding.DecoderContract;

namespace ModelCompiler.Tests.Compilation;

/// <summary>
/// The manifest's <c>decoder</c> object on graphs other tools exported: built from the decoder contract read from the
/// ONNX file, checked against what ONNX Runtime itself reports for the graph, and BOS/EOS from the configs beside it.
/// </summary>
public sealed class ManifestDecoderTests
{
    private static string Model(string folder, string file) => Path.Combine(TestPaths.Shared, "models", "thirdparty", folder, file);

    private static DecoderInfo Decoder(string path) =>
        ModelSignature.Of(OnnxModelIO.Load(path), Path.GetDirectoryName(path), path).Decoder ?? throw new Xunit.Sdk.XunitException("no decoder");

    [Theory]
    [InlineData("genai-tiny-random-llama-fp16", "model.onnx")]
    [InlineData("ort-tiny-random-gpt2-fp32", "past.onnx")]
    [InlineData("ort-tiny-random-gpt2-fp16", "past.onnx")]
    [InlineData("genai-dummy-lfm2", "decoder.onnx")]
    public void States_MatchWhatOrtReportsForTheGraph(string folder, string file)
    {
        var path = Model(folder, file);
        var fromProto = Decoder(path).Contract!;
        using var session = new InferenceSession(path);
        var fromOrt = DecoderContract.Of(session, path);

        Assert.Equal(fromOrt.States.Count, fromProto.States.Count);
        for (var i = 0; i < fromOrt.States.Count; i++)
        {
            var (a, b) = (fromOrt.States[i], fromProto.States[i]);
            Assert.Equal((a.Input, a.Output, a.Type, a.Kind, a.Layer, a.SequenceAxis), (b.Input, b.Output, b.Type, b.Kind, b.Layer, b.SequenceAxis));
            Assert.Equal(a.InitialShape, b.InitialShape);
            Assert.Equal(session.InputMetadata[b.Input].ElementDataType, b.Type);
            Assert.Contains(b.Output, session.OutputMetadata.Keys);
        }
        // Every graph input is fed by some part of the contract.
        var fed = new[] { fromProto.InputIds, fromProto.AttentionMask, fromProto.PositionIds, fromProto.SeqlensK, fromProto.TotalSequenceLength }
            .Where(p => p is not null).Select(p => p!.Name).Concat(fromProto.States.Select(s => s.Input)).ToHashSet();
        Assert.All(session.InputMetadata.Keys, name => Assert.Contains(name, fed));
        Assert.Equal(session.InputMetadata["input_ids"].ElementDataType, fromProto.InputIds.Type);
        Assert.Equal(session.OutputMetadata["logits"].ElementDataType, fromProto.Logits.Type);
    }

    [Theory] // the values as the config files beside each model state them
    [InlineData("genai-tiny-random-llama-fp16", "model.onnx", 0, 1, 2048)]
    [InlineData("ort-tiny-random-gpt2-fp32", "past.onnx", 98, 98, 512)]
    [InlineData("genai-dummy-lfm2", "decoder.onnx", 98, 98, 512)]
    public void BosEosAndContext_ComeFromTheConfigBesideTheModel(string folder, string file, int bos, int eos, int context)
    {
        var d = Decoder(Model(folder, file));
        Assert.Equal(bos, d.BosTokenId);
        Assert.Equal(eos, d.EosTokenId);
        Assert.Equal([eos], d.EosTokenIds);
        Assert.Equal(context, d.MaxPositions);
    }

    [Fact]
    public void GenAiLlama_DecoderObjectEqualsTheHandWrittenContractManifest()
    {
        // The generator's fixture was written by hand from the schema in docs/manifest.md for this graph.
        var fixture = Path.Combine(TestPaths.RepoRoot, "tests", "ModelCompiler.Generator.Tests", "Fixtures", "genai_llama_fp16.manifest.json");
        using var expected = JsonDocument.Parse(File.ReadAllText(fixture));
        using var actual = JsonDocument.Parse(ManifestWriter.DecoderObject(Decoder(Model("genai-tiny-random-llama-fp16", "model.onnx"))));
        Assert.Equal(expected.RootElement.GetProperty("decoder").GetRawText().Replace(" ", "").Replace("\n", ""),
            actual.RootElement.GetProperty("decoder").GetRawText().Replace(" ", "").Replace("\n", ""));
    }

    [Fact]
    public void Gpt2_PackedStatesAndInt32IdsInTheManifest()
    {
        using var doc = JsonDocument.Parse(ManifestWriter.DecoderObject(Decoder(Model("ort-tiny-random-gpt2-fp32", "past.onnx"))));
        var d = doc.RootElement.GetProperty("decoder");
        Assert.Equal("int32", d.GetProperty("input_ids").GetProperty("type").GetString());
        var states = d.GetProperty("state").EnumerateArray().ToList();
        Assert.Equal(5, states.Count); // config.json: n_layer 5
        Assert.All(states, s => Assert.Equal("packed_kv", s.GetProperty("kind").GetString()));
        Assert.Equal([2, 1, 4, 0, 8], states[0].GetProperty("initial_shape").EnumerateArray().Select(e => e.GetInt64())); // n_head 4, n_embd 32 / 4
        Assert.Equal(3, states[0].GetProperty("sequence_axis").GetInt32());
        Assert.Equal(4, d.GetProperty("num_kv_heads").GetInt64());
        Assert.Equal(8, d.GetProperty("head_dim").GetInt64());
    }

    [Theory]
    [InlineData("""{"model": {"vocab_size": 31999}}""", "vocab_size 31999")]
    [InlineData("""{"model": {"eos_token_id": [1, 32000]}}""", "eos_token_id 32000")]
    [InlineData("""{"model": {"decoder": {"num_key_value_heads": 2}}}""", "2 key/value heads")]
    [InlineData("""{"model": {"decoder": {"head_size": 8}}}""", "head size 8")]
    [InlineData("""{"model": {"decoder": {"num_hidden_layers": 3}}}""", "3 hidden layers")]
    [InlineData("""{"model": {"bos_token_id": "one"}}""", "must be an integer")]
    [InlineData("""{"model": """, "cannot read")]
    public void ConfigThatContradictsTheGraph_IsMC1048(string genaiConfig, string expected)
    {
        var graph = OnnxModelIO.Load(Model("genai-tiny-random-llama-fp16", "model.onnx"));
        var dir = TestPaths.NewTempDir();
        try
        {
            File.WriteAllText(Path.Combine(dir, "genai_config.json"), genaiConfig);
            var e = Assert.Throws<ModelCompilerException>(() => ModelSignature.Of(graph, dir, Path.Combine(dir, "model.onnx")));
            Assert.Equal("MC1048", e.Code);
            Assert.Contains(expected, e.Message);
            Assert.Equal(Path.Combine(dir, "genai_config.json"), e.File);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    private const string DataFreeSpec = "calibration:\n  generated: { tokens: 128, seed: 1 }\n  context: 64\nevaluation:\n  generated: { tokens: 128, seed: 2 }\n  context: 64\npolicy:\n  kind: all-int8\n";

    /// <summary>A data-free all-INT8 compile of <paramref name="model"/> into <paramref name="dir"/>/out; its manifest.</summary>
    private static JsonDocument CompileDataFree(string dir, string model, out string output)
    {
        var spec = Path.Combine(dir, "q.yaml");
        File.WriteAllText(spec, DataFreeSpec);
        output = Path.Combine(dir, "out", "m.q.onnx");
        QuantizationCompiler.Compile(new CompileOptions(model, spec, output), new ModelCompiler.Core.Tests.Compilation.CompileFixture.SilentReporter());
        return JsonDocument.Parse(File.ReadAllBytes(Directory.GetFiles(Path.Combine(dir, "out"), "*.manifest.json").Single()));
    }

    [Fact]
    public void Compile_OfTheLfm2Hybrid_WritesItsStatesAndTheConfigsBosIntoTheManifest()
    {
        var dir = TestPaths.NewTempDir();
        try
        {
            using var doc = CompileDataFree(dir, Model("genai-dummy-lfm2", "decoder.onnx"), out _);
            var d = doc.RootElement.GetProperty("decoder");
            Assert.Equal(98, d.GetProperty("bos_token_id").GetInt32()); // genai_config.json beside the input model
            Assert.Equal([98], d.GetProperty("eos_token_ids").EnumerateArray().Select(e => e.GetInt32()));
            Assert.Equal(512, d.GetProperty("max_positions").GetInt32());
            var states = d.GetProperty("state").EnumerateArray().ToList();
            // layer_types [conv, full_attention, conv, full_attention]: conv states carry no sequence axis.
            Assert.Equal(["past_conv.0", "past_conv.2"], states.Where(s => s.GetProperty("kind").GetString() == "state").Select(s => s.GetProperty("input").GetString()));
            Assert.All(states.Where(s => s.GetProperty("kind").GetString() == "state"), s => Assert.Equal(JsonValueKind.Null, s.GetProperty("sequence_axis").ValueKind));
            Assert.Equal(["past_key_values.1.key", "past_key_values.1.value", "past_key_values.3.key", "past_key_values.3.value"],
                states.Where(s => s.GetProperty("kind").GetString() is "key" or "value").Select(s => s.GetProperty("input").GetString()));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Compile_WithAContradictingConfigBesideTheModel_IsMC1048BeforeAnyOutput()
    {
        var dir = TestPaths.NewTempDir();
        try
        {
            File.Copy(Model("genai-dummy-lfm2", "decoder.onnx"), Path.Combine(dir, "decoder.onnx"));
            File.WriteAllText(Path.Combine(dir, "config.json"), """{"vocab_size": 1024}""");
            var spec = Path.Combine(dir, "q.yaml");
            File.WriteAllText(spec, DataFreeSpec);
            var e = Assert.Throws<ModelCompilerException>(() => CompileStages.Load(
                new CompileOptions(Path.Combine(dir, "decoder.onnx"), spec, Path.Combine(dir, "out", "q.onnx")), new ModelCompiler.Core.Tests.Compilation.CompileFixture.SilentReporter()).Dispose());
            Assert.Equal("MC1048", e.Code);
            Assert.Contains("vocab_size 1024", e.Message);
            Assert.False(Directory.Exists(Path.Combine(dir, "out")));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Stories260K_KeepsTheSummaryKeysOfEarlierManifestsAndAddsTheContract()
    {
        var dir = TestPaths.NewTempDir();
        try
        {
            var path = Path.Combine(dir, "stories260K.onnx");
            ModelCompiler.Import.Llama2cImporter.Import(TestPaths.Checkpoint, TestPaths.Tokenizer, path);
            using var actual = JsonDocument.Parse(ManifestWriter.DecoderObject(Decoder(path)));
            var d = actual.RootElement.GetProperty("decoder");
            // The generator's stories260K fixture is a manifest from before the contract: its keys keep their values.
            var fixture = Path.Combine(TestPaths.RepoRoot, "tests", "ModelCompiler.Generator.Tests", "Fixtures", "stories260K.manifest.json");
            using var old = JsonDocument.Parse(File.ReadAllText(fixture));
            foreach (var key in old.RootElement.GetProperty("decoder").EnumerateObject())
                Assert.Equal(key.Value.GetRawText(), d.GetProperty(key.Name).GetRawText());
            Assert.Equal([2], d.GetProperty("eos_token_ids").EnumerateArray().Select(e => e.GetInt32()));
            var states = d.GetProperty("state").EnumerateArray().ToList();
            Assert.Equal(10, states.Count);
            Assert.All(states, s => Assert.Equal([1L, 4, 0, 8], s.GetProperty("initial_shape").EnumerateArray().Select(e => e.GetInt64())));
            Assert.Equal(JsonValueKind.Array, d.GetProperty("extra_inputs").ValueKind);
            Assert.Empty(d.GetProperty("extra_inputs").EnumerateArray());
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Compile_OfTheGenAiFp16Graph_CopiesItsTokenizerJsonWhichTheRuntimeLoadsFromTheManifest()
    {
        var dir = TestPaths.NewTempDir();
        try
        {
            using var doc = CompileDataFree(dir, Model("genai-tiny-random-llama-fp16", "model.onnx"), out var output);
            var tokenizerFile = doc.RootElement.GetProperty("model").GetProperty("tokenizer").GetString()!;
            Assert.Equal(0, doc.RootElement.GetProperty("decoder").GetProperty("bos_token_id").GetInt32());
            Assert.Equal("float16", doc.RootElement.GetProperty("decoder").GetProperty("state")[0].GetProperty("type").GetString());

            // What the generated wrapper does with the manifest's model.tokenizer (a tokenizer.json under the .tokenizer.bin name).
            var tokenizer = TextGeneration.LoadBeside(output, tokenizerFile, 32000);
            Assert.IsType<ModelCompiler.Tokenization.HuggingFaceTokenizer>(tokenizer);
            var document = ModelCompiler.Evaluation.TextCorpus.SplitDocuments(File.ReadAllText(TestPaths.TinyStoriesSample))[0];
            Assert.Equal(Tokenization.HuggingFaceTokenizerTests.ReferenceIds("genai-tiny-random-llama-fp16", "tinystories_sample")[0].Select(i => (long)i),
                TextGeneration.Encode(tokenizer, document));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}

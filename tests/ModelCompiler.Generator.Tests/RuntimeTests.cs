using System.Reflection;
using Microsoft.CodeAnalysis;
using ModelCompiler.Generator.Tests.Infrastructure;
using ModelCompiler.Tests;

namespace ModelCompiler.Generator.Tests;

/// <summary>
/// Generated wrappers run on the real ONNX Runtime (CPU) against small stand-in models with the fixtures' signatures,
/// so that shapes, cache feeding and disposal are checked at run time, not just compiled.
/// </summary>
public sealed class RuntimeTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("mc-gen");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, byte[] model)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, model);
        return path;
    }

    private static MethodInfo Method(GeneratorOutcome outcome, string type, string method)
    {
        Assert.True(outcome.CompilationProblems.IsEmpty, GeneratorHarness.Format(outcome.CompilationProblems));
        var assembly = GeneratorHarness.EmitAndLoad(outcome.OutputCompilation);
        return assembly.GetType(type, throwOnError: true)!.GetMethod(method, BindingFlags.Public | BindingFlags.Static)!;
    }

    private static object? Invoke(MethodInfo method, params object?[] args)
    {
        try
        {
            return method.Invoke(null, args);
        }
        catch (TargetInvocationException ex) when (ex.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ex.InnerException).Throw();
            throw;
        }
    }

    private static GeneratorOutcome Story(string? manifest = null)
        => GeneratorHarness.Run([Fixtures.StoryManifest(manifest)], [UserPrograms.Story]);

    [Fact]
    public void GenerateGreedy_feeds_positions_mask_and_cache()
    {
        string model = Write("stories.onnx", TinyOnnx.FakeStoriesDecoder());
        var generate = Method(Story(), "Demo.App.StoryDriver", "Generate");

        // Next token = position + mask length + cache length + 100 (see TinyOnnx.FakeStoriesDecoder).
        var tokens = (long[])Invoke(generate, model, new long[] { 1, 5, 7 }, 4)!;

        Assert.Equal([108L, 111L, 114L, 117L], tokens);
    }

    [Fact]
    public void GenerateGreedy_stops_at_eos_without_returning_it()
    {
        string model = Write("stories.onnx", TinyOnnx.FakeStoriesDecoder());
        string manifest = Fixtures.Stories.Replace("\"eos_token_id\": 2", "\"eos_token_id\": 114", StringComparison.Ordinal);
        var generate = Method(Story(manifest), "Demo.App.StoryDriver", "Generate");

        Assert.Equal([108L, 111L], (long[])Invoke(generate, model, new long[] { 1, 5, 7 }, 10)!);
        Assert.Empty((long[])Invoke(generate, model, new long[] { 1 }, 0)!);
    }

    [Fact]
    public void GenerateGreedy_stops_at_the_models_maximum_sequence_length()
    {
        string model = Write("stories.onnx", TinyOnnx.FakeStoriesDecoder());
        string manifest = Fixtures.Stories.Replace("\"max_positions\": 512", "\"max_positions\": 5", StringComparison.Ordinal);
        var generate = Method(Story(manifest), "Demo.App.StoryDriver", "Generate");

        // Prompt of 3 at positions 0-2, then tokens fed at positions 3 and 4: three new tokens, the last never fed.
        Assert.Equal([108L, 111L, 114L], (long[])Invoke(generate, model, new long[] { 1, 5, 7 }, 10)!);
        Assert.Throws<ArgumentException>(() => Invoke(generate, model, new long[] { 1, 2, 3, 4, 5, 6 }, 1));
    }

    [Fact]
    public void GenerateAsync_streams_the_greedy_tokens_and_stops_when_cancelled()
    {
        string model = Write("stories.onnx", TinyOnnx.FakeStoriesDecoder());
        var outcome = Story();
        var generate = Method(outcome, "Demo.App.StoryDriver", "Generate");
        var stream = Method(outcome, "Demo.App.StoryDriver", "Stream");

        var greedy = (long[])Invoke(generate, model, new long[] { 1, 5, 7 }, 8)!;
        var streamed = (long[])Invoke(stream, model, new long[] { 1, 5, 7 }, 8, int.MaxValue)!;
        var cancelled = (long[])Invoke(stream, model, new long[] { 1, 5, 7 }, 8, 3)!;

        Assert.Equal(8, greedy.Length);
        Assert.Equal(greedy, streamed);
        Assert.Equal([.. greedy[..3], -1L], cancelled);
    }

    [Fact]
    public void GenerateGreedy_validates_its_arguments()
    {
        string model = Write("stories.onnx", TinyOnnx.FakeStoriesDecoder());
        var generate = Method(Story(), "Demo.App.StoryDriver", "Generate");

        var empty = Assert.Throws<ArgumentException>(() => Invoke(generate, model, Array.Empty<long>(), 3));
        Assert.Equal("promptTokens", empty.ParamName);
        var negative = Assert.Throws<ArgumentOutOfRangeException>(() => Invoke(generate, model, new long[] { 1 }, -1));
        Assert.Equal("maxNewTokens", negative.ParamName);
    }

    [Fact]
    public void Run_returns_typed_outputs_and_CreateWithCuda_falls_back_to_cpu()
    {
        string model = Write("stories.onnx", TinyOnnx.FakeStoriesDecoder());
        var outcome = Story();
        var assembly = GeneratorHarness.EmitAndLoad(outcome.OutputCompilation);
        var driver = assembly.GetType("Demo.App.StoryDriver", throwOnError: true)!;

        // Prompt of 3: logits [1, 3, 512], cache [1, 4, 3, 8]; the last position's argmax is 2 + 3 + 3 + 100.
        string result = (string)Invoke(driver.GetMethod("RunOnce")!, model, new long[] { 1, 5, 7 })!;
        Assert.Equal("1,3,512|1,4,3,8|1,4,3,8|False|108", result);

        // Without fallback, a CPU-only ONNX Runtime surfaces its own exception (a CUDA build would run on the GPU).
        string strict = (string)Invoke(driver.GetMethod("CudaStrict")!, model)!;
        Assert.Contains(strict, new[] { "no CUDA entry point", "CUDA unavailable", "cuda:True" });

        string missing = (string)Invoke(driver.GetMethod("MissingInput")!, model)!;
        Assert.Contains("'attention_mask' is not set", missing, StringComparison.Ordinal);
    }

    [Fact]
    public void Classifier_runs_with_float16_outputs_and_checks_shapes()
    {
        string model = Write("classifier.onnx", TinyOnnx.FakeClassifier());
        var outcome = GeneratorHarness.Run([Fixtures.ClassifierManifest()], [UserPrograms.Classifier]);
        var driver = GeneratorHarness.EmitAndLoad(outcome.OutputCompilation).GetType("Demo.App.ClassifierDriver", throwOnError: true)!;

        const int plane = 224 * 224;
        var pixels = new float[2 * 3 * plane];
        for (int i = 0; i < pixels.Length; i++)
        {
            pixels[i] = (i / plane) * 0.5f; // channel c of image b holds (3b + c) / 2
        }

        var scores = (float[])Invoke(driver.GetMethod("Scores")!, model, pixels, 2)!;
        Assert.Equal([0f, 0.5f, 1f, 1.5f, 2f, 2.5f], scores);

        string error = (string)Invoke(driver.GetMethod("ShapeError")!, model)!;
        Assert.Contains("Dimension 3 of input 'pixel_values' must be 224, but it is 223.", error, StringComparison.Ordinal);

        string path = (string)Invoke(driver.GetMethod("Path")!)!;
        Assert.Equal(Path.Combine(AppContext.BaseDirectory, "models/image_classifier.q.onnx"), path);
    }

    private static MethodInfo Driver(GeneratorOutcome outcome, string method) => Method(outcome, "Demo.App.StoryDriver", method);

    /// <summary>The documents of a ../shared corpus, split on separator lines as modelc's text corpus does.</summary>
    private static List<string> Documents(string corpus) =>
        File.ReadAllText(Path.Combine(TestPaths.Shared, "corpora", corpus + ".txt")).Split('\n')
            .Aggregate(new List<List<string>> { new() }, (docs, line) =>
            {
                if (line.Trim() == "<|endoftext|>") docs.Add([]);
                else docs[^1].Add(line);
                return docs;
            })
            .Select(lines => string.Join("\n", lines).Trim()).Where(d => d.Length > 0).ToList();

    [Theory]
    [InlineData("tinystories_sample")]
    [InlineData("unicode_sample")]
    public void Encode_and_Decode_use_the_tokenizer_the_manifest_names(string corpus)
    {
        // The LLaMA tokenizer.json beside the model; Hugging Face's own ids are the reference.
        string model = Write("stories.onnx", TinyOnnx.FakeStoriesDecoder());
        File.Copy(Path.Combine(TestPaths.Shared, "models", "thirdparty", "genai-tiny-random-llama-fp16", "tokenizer.json"), Path.Combine(_dir, "llama.tokenizer.json"));
        string manifest = Fixtures.Stories
            .Replace("\"tokenizer\": \"stories260K.q.tokenizer.bin\"", "\"tokenizer\": \"llama.tokenizer.json\"", StringComparison.Ordinal)
            .Replace("\"vocab_size\": 512,", "\"vocab_size\": 32000,", StringComparison.Ordinal);
        var outcome = Story(manifest);
        var encode = Driver(outcome, "EncodeText");
        var decode = Driver(outcome, "DecodeText");

        using var reference = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TestPaths.Shared, "tokenizers", $"genai-tiny-random-llama-fp16.{corpus}.json")));
        var expected = reference.RootElement.GetProperty("documents").EnumerateArray().ToList();
        var documents = Documents(corpus);
        Assert.Equal(expected.Count, documents.Count);
        for (int d = 0; d < documents.Count; d++)
        {
            Assert.Equal(expected[d].GetProperty("text_chars").GetInt32(), documents[d].EnumerateRunes().Count());
            var ids = (long[])Invoke(encode, model, documents[d])!;
            Assert.Equal(expected[d].GetProperty("ids").EnumerateArray().Select(i => i.GetInt64()), ids);
            Assert.Equal(documents[d], (string)Invoke(decode, model, ids)!);
        }
    }

    [Fact]
    public void GenerateAsync_text_streams_the_continuation_of_the_prompt()
    {
        // The fake decoder's tokens (position + mask + cache + 100) through the llama2.c tokenizer the manifest names.
        string model = Write("stories.onnx", TinyOnnx.FakeStoriesDecoder());
        File.Copy(TestPaths.Tokenizer, Path.Combine(_dir, "stories260K.q.tokenizer.bin"));
        var outcome = Story();
        var prompt = "Once upon a time";
        var tokenizer = ModelCompiler.Tokenization.Llama2cTokenizer.Load(TestPaths.Tokenizer, 512);
        long[] promptIds = [1, .. tokenizer.Encode(prompt).Select(i => (long)i)];
        Assert.Equal(promptIds[1..], (long[])Invoke(Driver(outcome, "EncodeText"), model, prompt)!);

        var generated = (long[])Invoke(Driver(outcome, "Generate"), model, promptIds, 6)!;
        var pieces = (string[])Invoke(Driver(outcome, "StreamText"), model, prompt, 6)!;

        Assert.NotEmpty(pieces);
        Assert.All(pieces, p => Assert.NotEqual(string.Empty, p));
        int[] whole = [.. promptIds[1..].Select(i => (int)i), .. generated.Select(i => (int)i)];
        string expected = tokenizer.Decode(whole)[tokenizer.Decode(whole.AsSpan(0, promptIds.Length - 1)).Length..];
        Assert.Equal(expected, string.Concat(pieces));
    }

    [Fact]
    public void Streamed_text_after_a_prompt_keeps_the_space_of_the_first_word()
    {
        // What GenerateAsync(string) relies on: the decoder continues after the prompt's last token, not at a sequence start.
        var tokenizer = ModelCompiler.Tokenization.Llama2cTokenizer.Load(TestPaths.Tokenizer, 512);
        var prompt = tokenizer.Encode("Once upon a time");
        var whole = tokenizer.Encode("Once upon a time there was a café");
        Assert.Equal(prompt, whole.Take(prompt.Count));
        var decoder = new ModelCompiler.Tokenization.IncrementalDecoder(tokenizer, prompt[^1]);
        var text = string.Concat(whole.Skip(prompt.Count).Select(decoder.Append)) + decoder.Flush();
        Assert.Equal(" there was a café", text);
    }

    [Fact]
    public void Missing_tokenizer_file_is_MC1020_on_first_use()
    {
        string model = Write("stories.onnx", TinyOnnx.FakeStoriesDecoder());
        var e = Assert.Throws<ModelCompilerException>(() => Invoke(Driver(Story(), "EncodeText"), model, "hello"));
        Assert.Equal("MC1020", e.Code);
    }
}

using System.Text.Json;

namespace ModelCompiler.Integration.Tests;

/// <summary>
/// A consumer with a <c>&lt;QuantizedModel&gt;</c> on the fp16 GenAI-builder LLaMA (../shared/models/thirdparty/
/// genai-tiny-random-llama-fp16, copied with its external data, genai_config.json and tokenizer.json): the build
/// compiles it data-free to all-INT8, and the generated wrapper's GenerateGreedy from genai_config.json's BOS id, with
/// an fp16 key/value cache, equals an argmax chain the consumer recomputes with plain ONNX Runtime and no cache. The
/// tokenizer is copied as <c>model.q.tokenizer.json</c> and the wrapper's Encode gives Hugging Face's ids.
/// </summary>
[Collection(PackagedConsumerCollection.Name)]
[Trait("Category", "Integration")]
public sealed class GenAiFp16ConsumerTests(PackagedConsumer consumer)
{
    private const int Steps = 8;

    // Plain ORT, not the wrapper: the whole prefix each step (no past: empty fp16 tensors), argmax of the last row.
    private const string Program = """
        using Microsoft.ML.OnnxRuntime;
        using Microsoft.ML.OnnxRuntime.Tensors;
        using ModelCompiler.Runtime;

        var path = Path.Combine(AppContext.BaseDirectory, "models", "model.q.onnx");
        using var model = new Demo.GenAiLlama(path);
        Console.WriteLine($"bos {Demo.GenAiLlama.BosTokenId}");
        Console.WriteLine("wrapper " + string.Join(" ", model.GenerateGreedy(new long[] { Demo.GenAiLlama.BosTokenId }, STEPS)));

        using (var runOptions = new RunOptions())
        using (var cache = new KeyValueCache(Demo.GenAiLlama.DecoderContract))
        {
            model.Generator.Step(new long[] { Demo.GenAiLlama.BosTokenId }, cache, runOptions);
            Console.WriteLine($"cache {cache[0].GetTensorTypeAndShape().ElementDataType} {cache.Count}");
        }

        using var session = new InferenceSession(path);
        var sequence = new List<long> { Demo.GenAiLlama.BosTokenId };
        for (int step = 0; step < STEPS; step++)
        {
            int n = sequence.Count;
            var inputs = new List<NamedOnnxValue>
            {
                NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(sequence.ToArray(), new[] { 1, n })),
                NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(Enumerable.Repeat(1L, n).ToArray(), new[] { 1, n })),
                NamedOnnxValue.CreateFromTensor("position_ids", new DenseTensor<long>(Enumerable.Range(0, n).Select(i => (long)i).ToArray(), new[] { 1, n })),
            };
            foreach (var name in session.InputMetadata.Keys.Where(k => k.StartsWith("past_key_values.", StringComparison.Ordinal)))
            {
                inputs.Add(NamedOnnxValue.CreateFromTensor(name, new DenseTensor<Float16>(new[] { 1, 1, 0, 16 })));
            }

            using var results = session.Run(inputs);
            var logits = results.First(r => r.Name == "logits").AsTensor<Float16>();
            int vocab = logits.Dimensions[2];
            int best = 0;
            float max = float.NegativeInfinity;
            for (int v = 0; v < vocab; v++)
            {
                float x = (float)logits[0, n - 1, v];
                if (x > max)
                {
                    max = x;
                    best = v;
                }
            }

            if (best == Demo.GenAiLlama.EosTokenId)
            {
                break;
            }

            sequence.Add(best);
        }

        Console.WriteLine("recomputed " + string.Join(" ", sequence.Skip(1)));

        // Text in and out through the tokenizer copy the manifest names.
        var document = File.ReadAllText(args[0]);
        var ids = model.Encode(document);
        Console.WriteLine("tokenizer " + Demo.GenAiLlama.TokenizerFileName);
        Console.WriteLine("encode " + string.Join(" ", ids));
        Console.WriteLine("roundtrip " + (model.Decode(ids) == document));
        """;

    [Fact]
    public void The_fp16_genai_llama_builds_data_free_and_its_wrapper_generates_from_the_configured_bos_with_an_fp16_cache()
    {
        consumer.EnsureCreated(); // the feed and the packages folder
        var shared = Path.Combine(ModelCompiler.Tests.TestPaths.Shared, "models", "thirdparty", "genai-tiny-random-llama-fp16");
        var dir = Path.Combine(consumer.Root, "genai consumer");
        Directory.CreateDirectory(Path.Combine(dir, "models"));
        foreach (var name in new[] { "model.onnx", "model.onnx.data", "genai_config.json", "tokenizer.json" })
        {
            File.Copy(Path.Combine(shared, name), Path.Combine(dir, "models", name));
        }

        File.WriteAllText(Path.Combine(dir, "models", "model.quant.yaml"), """
            target: cpu
            calibration:
              generated: { tokens: 32, seed: 1 }
              context: 16
            evaluation:
              generated: { tokens: 32, seed: 2 }
              context: 16
            policy:
              kind: all-int8

            """);
        File.WriteAllText(Path.Combine(dir, "NuGet.config"), consumer.NuGetConfig());
        File.WriteAllText(Path.Combine(dir, "GenAiConsumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <RootNamespace>Demo</RootNamespace>
                <RestorePackagesPath>{consumer.Packages}</RestorePackagesPath>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="ModelCompiler" Version="{consumer.Version}" />
                <PackageReference Include="ModelCompiler.Runtime" Version="{consumer.Version}" />
                <PackageReference Include="Microsoft.ML.OnnxRuntime" Version="1.31.1" />
                <QuantizedModel Include="models/model.onnx" Spec="models/model.quant.yaml" ClassName="GenAiLlama" Namespace="Demo" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(dir, "Program.cs"), Program.Replace("STEPS", Steps.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal));

        var build = DotNetCli.Run(dir, ["build", "-tl:off", "-nodeReuse:false", "-v:n"], TimeSpan.FromMinutes(5));
        Assert.True(build.Succeeded, build.ToString());
        var output = Path.Combine(dir, "bin", "Debug", "net10.0");
        Assert.True(File.Exists(Path.Combine(output, "models", "model.q.onnx")));

        // The tokenizer.json beside the model is copied under its own format's name, and only that.
        Assert.Equal(["model.q.tokenizer.json"], Directory.GetFiles(Path.Combine(output, "models"), "model.q.tokenizer.*").Select(Path.GetFileName));
        Assert.Equal(File.ReadAllBytes(Path.Combine(shared, "tokenizer.json")), File.ReadAllBytes(Path.Combine(output, "models", "model.q.tokenizer.json")));

        // The first document of tinystories_sample (lines equal to <|endoftext|> split documents; each trimmed) and
        // Hugging Face's own ids for it (../shared/tokenizers, made by the tokenizers library).
        var corpus = File.ReadAllText(Path.Combine(ModelCompiler.Tests.TestPaths.Shared, "corpora", "tinystories_sample.txt")).Replace("\r\n", "\n", StringComparison.Ordinal);
        var document = string.Join("\n", corpus.Split('\n').TakeWhile(l => l.Trim() != "<|endoftext|>")).Trim();
        var docPath = Path.Combine(dir, "document.txt");
        File.WriteAllText(docPath, document);
        using var reference = JsonDocument.Parse(File.ReadAllText(Path.Combine(ModelCompiler.Tests.TestPaths.Shared, "tokenizers", "genai-tiny-random-llama-fp16.tinystories_sample.json")));
        Assert.Equal(reference.RootElement.GetProperty("documents")[0].GetProperty("text_chars").GetInt32(), document.Length);
        var referenceIds = reference.RootElement.GetProperty("documents")[0].GetProperty("ids").EnumerateArray().Select(e => e.GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture));

        var run = DotNetCli.Run(dir, [Path.Combine(output, "GenAiConsumer.dll"), docPath], TimeSpan.FromMinutes(2));
        Assert.True(run.Succeeded, run.ToString());
        var lines = run.Output.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ', 2)).Where(p => p.Length == 2).GroupBy(p => p[0]).ToDictionary(g => g.Key, g => g.Last()[1]);

        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(shared, "genai_config.json")));
        var bos = config.RootElement.GetProperty("model").GetProperty("bos_token_id").GetInt64();
        Assert.Equal(bos.ToString(System.Globalization.CultureInfo.InvariantCulture), lines["bos"]);
        Assert.Equal("Float16 4", lines["cache"]); // 2 layers × key and value, fp16 as the graph declares
        var generated = lines["wrapper"].Split(' ').Select(long.Parse).ToArray();
        Assert.NotEmpty(generated);
        Assert.All(generated, id => Assert.InRange(id, 0, 31999));
        Assert.Equal(lines["recomputed"], lines["wrapper"]);

        Assert.Equal("model.q.tokenizer.json", lines["tokenizer"]);
        Assert.Equal(string.Join(" ", referenceIds), lines["encode"]);
        Assert.Equal("True", lines["roundtrip"]);
    }
}

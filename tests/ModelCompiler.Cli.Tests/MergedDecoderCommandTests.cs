using System.Text.Json;
using ModelCompiler.Core.Tests.Quantization;
using ModelCompiler.Onnx;
using ModelCompiler.Tests;

namespace ModelCompiler.Cli.Tests;

/// <summary>
/// A merged decoder (Optimum's decoder_model_merged.onnx layout, stories260K merged by <see cref="MergedDecoder"/>)
/// through the commands a user runs: eval and generate give what they give on the un-merged model, and compile
/// all-int8 exits 0 with an output that eval and generate run on.
/// </summary>
[Collection(ModelcCollection.Name)]
public sealed class MergedDecoderCommandTests(ModelcFixture f)
{
    private string Merged()
    {
        // In its own folder (the fixture's folder belongs to the import tests), beside a copy of the tokenizer the metadata names.
        var path = f.File("merged/stories260K-merged.onnx");
        lock (typeof(MergedDecoderCommandTests))
        {
            if (!File.Exists(path))
            {
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.Copy(f.File("stories260K.tokenizer.bin"), f.File("merged/stories260K.tokenizer.bin"), overwrite: true);
                var m = OnnxModelIO.Load(f.ModelPath);
                OnnxModelIO.Save(MergedDecoder.Merge(m, m), path);
            }
        }
        return path;
    }

    private static JsonElement Json(ModelcResult r)
    {
        Assert.True(r.ExitCode == 0, r.ToString());
        return JsonDocument.Parse(r.StdOut).RootElement.Clone();
    }

    [Fact]
    public void Eval_generate_and_compile_run_on_a_merged_decoder()
    {
        var merged = Merged();
        double Perplexity(string model) => Json(Modelc.Run("eval", model, "--text", TestPaths.TinyStoriesSample, "--json", "--max-tokens", "400")).GetProperty("perplexity").GetDouble();
        string Ids(string model) => Json(Modelc.Run("generate", model, "--max-tokens", "24", "--json")).GetProperty("ids").GetRawText();

        Assert.Equal(Perplexity(f.ModelPath), Perplexity(merged));
        Assert.Equal(Ids(f.ModelPath), Ids(merged));

        var spec = f.File("merged-all-int8.yaml");
        File.WriteAllText(spec, $"""
            target: cpu
            calibration:
              text: {TestPaths.TinyStoriesValid}
              max_tokens: 1024
            evaluation:
              text: {TestPaths.TinyStoriesSample}
              max_tokens: 512
            policy:
              kind: all-int8
            """);
        var output = f.File("merged-q/merged.q.onnx");
        var reference = f.File("merged-q/plain.q.onnx");
        var compile = Json(Modelc.Run("compile", merged, "--spec", spec, "-o", output, "--json"));
        Assert.True(compile.GetProperty("passed").GetBoolean());
        Assert.Equal(36, compile.GetProperty("int8_layers").GetInt32());
        Assert.True(Json(Modelc.Run("compile", f.ModelPath, "--spec", spec, "-o", reference, "--json")).GetProperty("passed").GetBoolean());
        // The same INT8 model as the un-merged compile, in both branches.
        Assert.Equal(Perplexity(reference), Perplexity(output), 1e-6);
        Assert.Equal(Ids(reference), Ids(output));
    }
}

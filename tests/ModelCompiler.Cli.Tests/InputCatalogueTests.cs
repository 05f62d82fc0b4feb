using System.Text.RegularExpressions;
using Google.Protobuf;
using ModelCompiler.Onnx;
using ModelCompiler.Onnx.Proto;
using ModelCompiler.Tests;
using static ModelCompiler.Cli.Tests.FileSystemCatalogueTests;

namespace ModelCompiler.Cli.Tests;

/// <summary>
/// Bad ONNX models, tokenizers and command-line flags, one row each, run through the real <c>modelc</c>: exit 2, the
/// expected MC code (and no other), no stack trace, every input byte-identical and nothing added anywhere under the
/// case folder (so nothing at any output path). Each case works on copies (see <see cref="FileSystemCatalogueTests.NewCase"/>).
/// </summary>
[Collection(ModelcCollection.Name)]
public sealed class InputCatalogueTests(ModelcFixture f)
{
    private static readonly Regex Code = new(@"error (?<code>MC\d{4}): ", RegexOptions.Multiline);

    public sealed record Row(string Category, string Name, string Code, Func<string, string[]> Setup)
    {
        public override string ToString() => $"{Category}/{Name}";
    }

    private static string P(string dir, string name) => Path.Combine(dir, name);

    private static string Out(string dir) => P(dir, "out/q.onnx");

    /// <summary>The case's stories260K copy, edited and written as bad.onnx beside it (same tokenizer metadata).</summary>
    private static string BadModel(string dir, Action<ModelProto> edit, string name = "bad.onnx")
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(P(dir, "stories260K.onnx")));
        edit(model);
        var path = P(dir, name);
        File.WriteAllBytes(path, model.ToByteArray());
        // The tokenizer the model names must sit beside it under that name; bad.onnx keeps stories260K's metadata.
        return path;
    }

    private static TensorProto Weight(ModelProto m, string name = "model.layers.0.mlp.down_proj.weight") =>
        m.Graph.Initializer.First(t => t.Name == name);

    private static string[] CompileWith(string dir, string model) => ["compile", "--model", model, "--spec", P(dir, "spec.yaml"), "--output", Out(dir)];

    private static string[] EvalWith(string dir, string model, params string[] extra) => ["eval", model, "--text", P(dir, "eval.txt"), .. extra];

    private static string Write(string dir, string name, string text)
    {
        File.WriteAllText(P(dir, name), text);
        return P(dir, name);
    }

    private static string WriteBytes(string dir, string name, byte[] bytes)
    {
        File.WriteAllBytes(P(dir, name), bytes);
        return P(dir, name);
    }

    private static string ThirdParty(string folder, string file) => Path.Combine(TestPaths.Shared, "models", "thirdparty", folder, file);

    private static string GptTokenizerJson() => File.ReadAllText(ThirdParty("ort-tiny-random-gpt2-fp32", "tokenizer.json"));

    /// <summary>Points the spec's calibration and evaluation at <paramref name="tokenizer"/> (relative to the spec).</summary>
    private static void SpecTokenizer(string dir, string tokenizer) =>
        File.WriteAllText(P(dir, "spec.yaml"), File.ReadAllText(P(dir, "spec.yaml"))
            .Replace("max_tokens: 512 }", $"max_tokens: 512, tokenizer: {tokenizer} }}"));

    public static TheoryData<Row> Rows() =>
    [
        // ONNX models: modelc's own loader (compile) and the ORT session (eval).
        new("onnx", "negative-dim", "MC1009", d => CompileWith(d, BadModel(d, m => Weight(m).Dims[0] = -172))),
        new("onnx", "zero-dim-with-data", "MC1009", d => CompileWith(d, BadModel(d, m => Weight(m).Dims[1] = 0))),
        new("onnx", "zero-dim-empty-weight", "MC1047", d => CompileWith(d, BadModel(d, m => { Weight(m).Dims[1] = 0; Weight(m).RawData = ByteString.Empty; }))),
        new("onnx", "dims-overflow", "MC1009", d => CompileWith(d, BadModel(d, m => { Weight(m).Dims[0] = 1L << 40; Weight(m).Dims[1] = 1L << 40; }))),
        new("onnx", "raw-data-short", "MC1009", d => CompileWith(d, BadModel(d, m => Weight(m).RawData = ByteString.CopyFrom(Weight(m).RawData.Span[..^4])))),
        new("onnx", "unknown-data-type", "MC1009", d => CompileWith(d, BadModel(d, m => Weight(m).DataType = 42))),
        new("onnx", "no-data", "MC1009", d => CompileWith(d, BadModel(d, m => Weight(m).RawData = ByteString.Empty))),
        new("onnx", "external-length-mismatch", "MC1003", d => CompileWith(d, BadModel(d, m =>
        {
            File.WriteAllBytes(P(d, "w.bin"), Weight(m).RawData.ToByteArray());
            var t = Weight(m);
            t.RawData = ByteString.Empty;
            t.DataLocation = TensorProto.Types.DataLocation.External;
            t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "w.bin" });
            t.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = "100" });
        }))),
        new("onnx", "external-file-missing", "MC1003", d => CompileWith(d, BadModel(d, m =>
        {
            var t = Weight(m);
            t.RawData = ByteString.Empty;
            t.DataLocation = TensorProto.Types.DataLocation.External;
            t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "gone.bin" });
        }))),
        new("onnx", "duplicate-metadata-key", "MC1002", d => CompileWith(d, BadModel(d, m => m.MetadataProps.Add(new StringStringEntryProto { Key = m.MetadataProps[0].Key, Value = "x" })))),
        new("onnx", "truncated", "MC1002", d => CompileWith(d, WriteBytes(d, "bad.onnx", File.ReadAllBytes(P(d, "stories260K.onnx"))[..5000]))),
        new("onnx", "text-file", "MC1002", d => CompileWith(d, Write(d, "bad.onnx", "not a model\n"))),
        new("onnx", "not-a-decoder", "MC1040", d => CompileWith(d, ThirdParty("optimum-test-bert-classifier", "model.onnx"))),
        new("onnx", "eval-truncated", "MC1002", d => EvalWith(d, WriteBytes(d, "bad.onnx", File.ReadAllBytes(P(d, "stories260K.onnx"))[..5000]))),
        new("onnx", "eval-unknown-operator", "MC1047", d => EvalWith(d, BadModel(d, m => m.Graph.Node.First(n => n.OpType == "MatMul").OpType = "NoSuchOp"))),
        new("onnx", "eval-raw-data-short", "MC1047", d => EvalWith(d, BadModel(d, m => Weight(m).RawData = ByteString.CopyFrom(Weight(m).RawData.Span[..^4])))),

        // Tokenizers: given with --tokenizer, named in the spec, stored beside the model, copied by import.
        new("tokenizer", "eval-truncated-json", "MC1021", d => EvalWith(d, P(d, "stories260K.onnx"), "--tokenizer", Write(d, "tokenizer.json", GptTokenizerJson()[..5000]))),
        new("tokenizer", "eval-bad-json", "MC1021", d => EvalWith(d, P(d, "stories260K.onnx"), "--tokenizer", Write(d, "tokenizer.json", "{ \"model\": [1, 2,, }"))),
        new("tokenizer", "eval-json-without-model", "MC1021", d => EvalWith(d, P(d, "stories260K.onnx"), "--tokenizer", Write(d, "tokenizer.json", "{ \"version\": \"1.0\", \"added_tokens\": [] }"))),
        new("tokenizer", "eval-wrong-vocabulary", "MC1022", d => EvalWith(d, P(d, "stories260K.onnx"), "--tokenizer", Write(d, "tokenizer.json", GptTokenizerJson()))),
        new("tokenizer", "eval-missing", "MC1020", d => EvalWith(d, P(d, "stories260K.onnx"), "--tokenizer", P(d, "nope.json"))),
        new("tokenizer", "tokenize-truncated-json", "MC1021", d => ["tokenize", "--tokenizer", Write(d, "tokenizer.json", GptTokenizerJson()[..5000]), "--text", P(d, "eval.txt")]),
        new("tokenizer", "tokenize-truncated-bin", "MC1021", d => ["tokenize", "--tokenizer", WriteBytes(d, "t.bin", File.ReadAllBytes(TestPaths.Tokenizer)[..3001]), "--text", P(d, "eval.txt")]),
        new("tokenizer", "tokenize-empty-bin", "MC1021", d => ["tokenize", "--tokenizer", WriteBytes(d, "t.bin", []), "--text", P(d, "eval.txt")]),
        new("tokenizer", "compile-beside-model-truncated", "MC1021", d =>
        {
            File.WriteAllBytes(P(d, "stories260K.tokenizer.bin"), File.ReadAllBytes(TestPaths.Tokenizer)[..3001]);
            return CompileWith(d, P(d, "stories260K.onnx"));
        }),
        new("tokenizer", "compile-spec-json-without-model", "MC1021", d =>
        {
            Write(d, "tokenizer.json", "{ \"version\": \"1.0\" }");
            SpecTokenizer(d, "tokenizer.json");
            return CompileWith(d, P(d, "stories260K.onnx"));
        }),
        new("tokenizer", "import-truncated", "MC1021", d =>
            ["import", "llama2c", TestPaths.Checkpoint, "--tokenizer", WriteBytes(d, "t.bin", File.ReadAllBytes(TestPaths.Tokenizer)[..3001]), "--output", Out(d)]),
        new("tokenizer", "import-too-few-entries", "MC1022", d =>
            ["import", "llama2c", TestPaths.Checkpoint, "--tokenizer", WriteBytes(d, "t.bin", File.ReadAllBytes(TestPaths.Tokenizer)[..4]), "--output", Out(d)]),
        new("tokenizer", "import-not-a-tokenizer", "MC1021", d =>
            ["import", "llama2c", TestPaths.Checkpoint, "--tokenizer", Write(d, "t.bin", GptTokenizerJson()), "--output", Out(d)]),

        // Command-line flags.
        new("flags", "eval-context-negative", "MC1006", d => EvalWith(d, P(d, "stories260K.onnx"), "--context", "-1")),
        new("flags", "eval-context-one", "MC1006", d => EvalWith(d, P(d, "stories260K.onnx"), "--context", "1")),
        new("flags", "eval-context-not-a-number", "MC1006", d => EvalWith(d, P(d, "stories260K.onnx"), "--context", "many")),
        new("flags", "eval-unknown-provider", "MC1006", d => EvalWith(d, P(d, "stories260K.onnx"), "--provider", "tpu")),
        new("flags", "eval-missing-model", "MC1001", d => EvalWith(d, P(d, "nope.onnx"))),
        new("flags", "eval-missing-text", "MC1030", d => ["eval", P(d, "stories260K.onnx"), "--text", P(d, "nope.txt")]),
        new("flags", "compile-threads-zero", "MC1006", d => [.. CompileWith(d, P(d, "stories260K.onnx")), "--threads", "0"]),
        new("flags", "compile-threads-negative", "MC1006", d => [.. CompileWith(d, P(d, "stories260K.onnx")), "--threads", "-3"]),
        new("flags", "compile-missing-model", "MC1001", d => CompileWith(d, P(d, "nope.onnx"))),
        new("flags", "compile-unknown-option", "MC1006", d => [.. CompileWith(d, P(d, "stories260K.onnx")), "--polcy", "x"]),
        new("flags", "compile-no-output", "MC1006", d => ["compile", "--model", P(d, "stories260K.onnx"), "--spec", P(d, "spec.yaml")]),
        new("flags", "generate-temperature-nan", "MC1006", d => ["generate", P(d, "stories260K.onnx"), "--temperature", "nan"]),
        new("flags", "generate-top-p-zero", "MC1006", d => ["generate", P(d, "stories260K.onnx"), "--temperature", "1", "--top-p", "0"]),
        new("flags", "generate-max-tokens-negative", "MC1006", d => ["generate", P(d, "stories260K.onnx"), "--max-tokens", "-1"]),
        new("flags", "bench-prefill-zero", "MC1006", d => ["bench", P(d, "stories260K.onnx"), "--prefill", "0"]),
        new("flags", "import-missing-checkpoint", "MC1001", d => ["import", "llama2c", P(d, "nope.bin"), "--output", Out(d)]),
        new("flags", "import-output-blank", "MC1071", d => ["import", "llama2c", TestPaths.Checkpoint, "--output", " "]),
        new("flags", "synthetic-dim-zero", "MC1010", d => ["import", "synthetic-llama", "--dim", "0", "--hidden", "8", "--layers", "1", "--heads", "1", "--vocab", "300", "--output", Out(d)]),
        new("flags", "unknown-command", "MC1006", d => ["quantize", P(d, "stories260K.onnx")]),
    ];

    [Theory]
    [MemberData(nameof(Rows))]
    public void BadInput_Exit2_WithItsCode_InputsUntouched_NothingWritten(Row row)
    {
        var dir = NewCase(f, $"{row.Category}-{row.Name}");
        var args = row.Setup(dir);
        var before = Snapshot(dir);
        var tokenizerBefore = Sha256(TestPaths.Tokenizer);

        var r = Modelc.Run(args);

        Assert.True(r.ExitCode == 2, $"{row}: expected exit 2\n{r}");
        var codes = Code.Matches(r.StdErr).Select(m => m.Groups["code"].Value).Distinct().ToList();
        Assert.True(codes.SequenceEqual([row.Code]), $"{row}: expected only {row.Code}\n{r}");
        Assert.DoesNotContain("   at ", r.StdErr);
        Assert.Equal(before, Snapshot(dir)); // inputs byte-identical; no output, staging or folder added
        Assert.Equal(tokenizerBefore, Sha256(TestPaths.Tokenizer));
    }

    [Fact]
    public void A_model_ORT_refuses_at_calibration_is_reported_at_the_users_model_not_the_staging_copy()
    {
        var dir = NewCase(f, "onnx-refused-at-calibration");
        var r = Modelc.Run(CompileWith(dir, BadModel(dir, m => { Weight(m).Dims[1] = 0; Weight(m).RawData = ByteString.Empty; })));

        Assert.True(r.ExitCode == 2, r.ToString());
        var line = r.StdErr.Split('\n').Single(l => l.Contains("error MC1047", StringComparison.Ordinal));
        Assert.StartsWith(Path.Combine(dir, "bad.onnx") + ": error MC1047: calibrating", line, StringComparison.Ordinal);
    }

    [Fact]
    public void TheCatalogueCoversEveryCategory()
    {
        var counts = ((IEnumerable<object[]>)Rows()).Select(r => ((Row)r[0]).Category).GroupBy(c => c).ToDictionary(g => g.Key, g => g.Count());
        Assert.True(counts["onnx"] >= 10 && counts["tokenizer"] >= 10 && counts["flags"] >= 15, string.Join(", ", counts));
    }
}

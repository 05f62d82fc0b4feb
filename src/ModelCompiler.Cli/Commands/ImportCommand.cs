using System.CommandLine;
using System.Text.Json;
using ModelCompiler.Import;
using ModelCompiler.IO;
using ModelCompiler.Onnx;

namespace ModelCompiler.Cli.Commands;

internal static class ImportCommand
{
    public static Command Create()
    {
        var checkpoint = new Argument<string>("checkpoint") { Description = "llama2.c checkpoint (.bin)." };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "llama2.c tokenizer (.bin); stored beside the model as <model>.tokenizer.bin." };
        var output = new Option<string>("--output", "-o") { Description = "The ONNX model to write.", Required = true };
        var external = new Option<bool>("--external-data") { Description = "Store weights in <model>.onnx.data (automatic above 1 GiB)." };
        var opset = new Option<int>("--opset") { Description = "ONNX opset to write: 17, or 11 as older exporters do (to measure INT8 on such graphs).", DefaultValueFactory = _ => Llama2cImporter.Opset };
        var json = JsonOption();

        var llama2c = new Command("llama2c", "Import a llama2.c checkpoint as an ONNX decoder (Optimum layout, opset 17).");
        llama2c.Arguments.Add(checkpoint);
        llama2c.Options.Add(tokenizer);
        llama2c.Options.Add(output);
        llama2c.Options.Add(external);
        llama2c.Options.Add(opset);
        llama2c.Options.Add(json);
        llama2c.SetAction(parse => CommandRunner.Run(parse, () =>
        {
            var outPath = CheckPaths(parse.GetValue(output), ("checkpoint", parse.GetValue(checkpoint)), ("tokenizer", parse.GetValue(tokenizer)));
            var options = new SaveOptions { ExternalData = parse.GetValue(external) ? ExternalDataMode.Always : ExternalDataMode.Auto };
            var model = Llama2cImporter.Import(parse.GetValue(checkpoint)!, parse.GetValue(tokenizer), outPath, options, parse.GetValue(opset));
            Console.Error.WriteLine($"modelc: wrote {outPath} ({model.Graph.Node.Count} nodes, {model.Graph.Initializer.Count} initializers)");
            if (parse.GetValue(json)) Console.WriteLine(Json(outPath, model, options, parameters: null, parse.GetValue(tokenizer) is not null));
            return ExitCodes.Success;
        }));

        var import = new Command("import", "Import a model from another format.");
        import.Subcommands.Add(llama2c);
        import.Subcommands.Add(CreateSynthetic());
        return import;
    }

    private static Command CreateSynthetic()
    {
        Option<int> Size(string name, string description) => new(name) { Description = description, Required = true };
        var dim = Size("--dim", "Model width (residual stream).");
        var hidden = Size("--hidden", "FFN hidden width.");
        var layers = Size("--layers", "Number of decoder layers.");
        var heads = Size("--heads", "Attention heads (must divide --dim; --dim / --heads must be even).");
        var kvHeads = new Option<int?>("--kv-heads") { Description = "Key/value heads (must divide --heads; default --heads)." };
        var vocab = Size("--vocab", "Vocabulary size.");
        var maxSeq = new Option<int>("--max-seq") { Description = "Positions the rotary tables cover.", DefaultValueFactory = _ => 512 };
        var seed = new Option<long>("--seed") { Description = "Seed of the weights; the same seed gives the same file.", DefaultValueFactory = _ => 1 };
        var spikes = new Option<string?>("--spike-layers") { Description = "Comma-separated layers (0-based) whose FFN gets planted activation spikes, e.g. 0,3." };
        var heavyTails = new Option<string?>("--heavy-tail-layers") { Description = "Comma-separated layers whose FFN gets heavy tails spread over all channels on a few trigger tokens (as trained models show)." };
        var spikeStrength = new Option<double>("--spike-strength") { Description = "Scales the planted spikes (1: units 20-50 times a normal one; 0.2: milder, as in small trained models).", DefaultValueFactory = _ => 1 };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "llama2.c tokenizer (.bin) with --vocab entries; stored beside the model as <model>.tokenizer.bin." };
        var output = new Option<string>("--output", "-o") { Description = "The ONNX model to write.", Required = true };
        var external = new Option<bool>("--external-data") { Description = "Store weights in <model>.onnx.data (automatic above 1 GiB)." };
        var json = JsonOption();

        var command = new Command("synthetic-llama",
            "Generate a LLaMA-style ONNX decoder with random weights scaled like an initialised model, optionally with planted activation spikes.");
        foreach (var o in new Option[] { dim, hidden, layers, heads, kvHeads, vocab, maxSeq, seed, spikes, spikeStrength, heavyTails, tokenizer, output, external, json })
            command.Options.Add(o);
        command.SetAction(parse => CommandRunner.Run(parse, () =>
        {
            var options = new SyntheticLlamaOptions
            {
                Dim = parse.GetValue(dim), HiddenDim = parse.GetValue(hidden), Layers = parse.GetValue(layers),
                Heads = parse.GetValue(heads), KvHeads = parse.GetValue(kvHeads) ?? parse.GetValue(heads),
                VocabSize = parse.GetValue(vocab), MaxSeqLen = parse.GetValue(maxSeq), Seed = parse.GetValue(seed),
                SpikeLayers = ParseLayers(parse.GetValue(spikes), "--spike-layers"),
                SpikeStrength = parse.GetValue(spikeStrength),
                HeavyTailLayers = ParseLayers(parse.GetValue(heavyTails), "--heavy-tail-layers"),
            };
            var outPath = CheckPaths(parse.GetValue(output), ("tokenizer", parse.GetValue(tokenizer)));
            var save = new SaveOptions { ExternalData = parse.GetValue(external) ? ExternalDataMode.Always : ExternalDataMode.Auto };
            var model = SyntheticLlama.Generate(options, parse.GetValue(tokenizer), outPath, save);
            Console.Error.WriteLine($"modelc: wrote {outPath} ({options.Parameters} parameters, {model.Graph.Node.Count} nodes; {SyntheticLlama.Describe(options)})");
            if (parse.GetValue(json)) Console.WriteLine(Json(outPath, model, save, options.Parameters, parse.GetValue(tokenizer) is not null));
            return ExitCodes.Success;
        }));
        return command;
    }

    private static Option<bool> JsonOption() => new("--json")
    {
        Description = "Print what was written as one JSON object on stdout: {\"output\", \"external_data\" (path or null), \"tokenizer\" (the copy beside the model, or null), \"nodes\", \"initializers\", \"parameters\" (synthetic-llama; null for llama2c)}.",
    };

    private static string Json(string outPath, Onnx.Proto.ModelProto model, SaveOptions save, long? parameters, bool tokenizerCopied)
    {
        var data = outPath + ".data";
        var tokenizer = Llama2cImporter.TokenizerPathFor(outPath);
        return JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["output"] = outPath,
            // The same rule OnnxModelIO.Save applied: always, or automatic above the threshold.
            ["external_data"] = save.ExternalData == ExternalDataMode.Always
                || (save.ExternalData == ExternalDataMode.Auto && OnnxModelIO.AllTensors(model.Graph).Sum(t => (long)t.RawData.Length) > save.ExternalDataThresholdBytes) ? data : null,
            ["tokenizer"] = tokenizerCopied ? tokenizer : null,
            ["nodes"] = model.Graph.Node.Count,
            ["initializers"] = model.Graph.Initializer.Count,
            ["parameters"] = parameters,
        });
    }

    /// <summary>Inputs regular files, the output non-empty and (with its data file and tokenizer copy) none of the inputs.</summary>
    private static string CheckPaths(string? output, params (string Role, string? Path)[] inputs)
    {
        var outPath = PathGuard.RequireOutputPath(output, "--output");
        var given = inputs.Where(i => !string.IsNullOrEmpty(i.Path)).Select(i => (i.Role, i.Path!)).ToList();
        foreach (var (role, path) in given) PathGuard.RequireRegularInput(path, role);
        PathGuard.RequireDisjoint(given, [("--output model", outPath), ("output external data file", outPath + ".data"),
            ("output tokenizer copy", Llama2cImporter.TokenizerPathFor(outPath))]);
        return outPath;
    }

    private static int[] ParseLayers(string? text, string option)
    {
        if (string.IsNullOrWhiteSpace(text)) return [];
        return text.Split(',', StringSplitOptions.TrimEntries).Select(part =>
            int.TryParse(part, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n
                : throw new ModelCompilerException("MC1006", $"{option} must be comma-separated layer numbers, e.g. 0,3 (got '{text}').")).ToArray();
    }
}

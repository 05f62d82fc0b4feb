using System.CommandLine;
using System.Text;
using System.Text.Json;
using ModelCompiler.Runtime;
using ModelCompiler.Tokenization;

namespace ModelCompiler.Cli.Commands;

internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = new ModelArgument("ONNX decoder model (or --model).");
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Tokenizer; default: the one stored beside the model." };
        var prompt = new Option<string?>("--prompt") { Description = "Text to continue; without it, generation starts from BOS." };
        var promptIdsOption = new Option<string?>("--prompt-ids") { Description = "Token ids to continue, comma-separated (e.g. 1,2,3), put after BOS; no tokenizer needed with --json." };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Number of tokens to generate.", DefaultValueFactory = _ => 64 };
        var temperature = new Option<float>("--temperature") { Description = "0 = greedy (default); > 0 samples.", DefaultValueFactory = _ => 0f };
        var topP = new Option<float>("--top-p") { Description = "Nucleus sampling mass (with --temperature > 0).", DefaultValueFactory = _ => 1f };
        var seed = new Option<int>("--seed") { Description = "Random seed for sampling.", DefaultValueFactory = _ => 0 };
        var provider = CliOptions.Provider();
        var ortNative = CliOptions.OrtNative();
        var json = new Option<bool>("--json")
        {
            Description = "Print one JSON object at the end instead of streaming text: {\"model\", \"provider\", \"prompt\" (text or null), \"prompt_ids\" (BOS first), \"ids\" (the generated ids), \"text\" (their decoded text; null without a tokenizer that fits, and then generation needs no tokenizer), \"stop\" (\"eos\", \"max_tokens\" or \"max_positions\")}.",
        };

        var cmd = new Command("generate", "Decode text with the KV cache (greedy by default).");
        model.AddTo(cmd);
        foreach (var o in new Option[] { tokenizer, prompt, promptIdsOption, maxTokens, temperature, topP, seed, provider, ortNative, json }) cmd.Options.Add(o);
        cmd.SetAction(parse => CommandRunner.Run(parse, () =>
        {
            var modelPath = Path.GetFullPath(model.Value(parse));
            if (!File.Exists(modelPath)) throw new ModelCompilerException("MC1001", "model file not found; check the path.", modelPath);
            var n = parse.GetValue(maxTokens);
            if (n < 0) throw new ModelCompilerException("MC1006", $"--max-tokens must be ≥ 0 (got {n}).");
            var temp = parse.GetValue(temperature);
            var p = parse.GetValue(topP);
            if (!float.IsFinite(temp) || !float.IsFinite(p) || temp < 0 || p <= 0 || p > 1) throw new ModelCompilerException("MC1006", "--temperature must be a finite number ≥ 0 and --top-p a finite number in (0, 1].");
            ExecutionProviders.UseNativeLibrary(parse.GetValue(ortNative));

            using var options = ExecutionProviders.Create(parse.GetValue(provider)!, modelPath);
            using var session = new DecoderSession(modelPath, options);
            // BOS, EOS and the context as compile reads them: the model's metadata, else genai_config.json / config.json
            // beside it (MC1048 when it contradicts the graph), else the tokenizer.
            var config = Compilation.DecoderConfig.Beside(session);
            session.LimitPositions(config.ContextLength);
            var asJson = parse.GetValue(json);
            var promptText = parse.GetValue(prompt);
            var promptIdsText = parse.GetValue(promptIdsOption);
            if (!string.IsNullOrEmpty(promptText) && promptIdsText is not null)
                throw new ModelCompilerException("MC1006", "give --prompt or --prompt-ids, not both.");
            var given = ParseIds(promptIdsText, session.VocabSize);
            // --json runs on ids alone: a tokenizer beside the model that is missing or does not fit is left out.
            ITokenizer? tok;
            if (asJson)
            {
                tok = OptionalTokenizer.Load(session, parse.GetValue(tokenizer), out var whyNot);
                if (tok is null && !string.IsNullOrEmpty(promptText))
                    throw OptionalTokenizer.WithHint(whyNot!, "--prompt needs a tokenizer: give --prompt-ids instead");
                if (tok is null)
                    Console.Error.WriteLine($"modelc: warning: no tokenizer ({whyNot!.Code}: {whyNot.Message.TrimEnd('.')}); generating ids only (\"text\": null).");
            }
            else
            {
                try { tok = ModelTokenizer.Load(session, parse.GetValue(tokenizer)); }
                catch (ModelCompilerException e) when (parse.GetValue(tokenizer) is null && e.Code.StartsWith("MC102", StringComparison.Ordinal))
                {
                    throw OptionalTokenizer.WithHint(e, OptionalTokenizer.IdsHint);
                }
            }
            var meta = session.Session.ModelMetadata.CustomMetadataMap;
            int? Meta(string key) => meta.TryGetValue(key, out var v) && int.TryParse(v, System.Globalization.CultureInfo.InvariantCulture, out var id) ? id : null;
            var bos = Meta(Import.Llama2cImporter.MetadataKeys.BosTokenId) ?? config.BosTokenId ?? tok?.BosId
                ?? throw (tok is null
                    ? new ModelCompilerException("MC1025", "no BOS token id is known to start from: give --tokenizer, or a genai_config.json / config.json with bos_token_id beside the model.", modelPath)
                    : new ModelCompilerException("MC1025", "the tokenizer has no BOS token to start from.", tok.SourcePath));
            var eos = Meta(Import.Llama2cImporter.MetadataKeys.EosTokenId) ?? (config.EosTokenIds.Count > 0 ? config.EosTokenIds[0] : tok?.EosId);

            var promptIds = new List<int> { bos };
            if (!string.IsNullOrEmpty(promptText)) promptIds.AddRange(tok!.Encode(promptText));
            promptIds.AddRange(given);

            var sampling = new SamplingOptions(temp, p, parse.GetValue(seed));
            var atLimit = promptIds.Count + n > session.MaxPositions;
            if (asJson)
            {
                var ids = TextGenerator.Generate(session, promptIds, n, sampling, eos).ToList();
                string? text = null;
                if (tok is not null)
                {
                    var bytes = new MemoryStream();
                    var writer = new IncrementalDecoderWriter(tok, promptIds.Count > 1 ? promptIds[^1] : NoStrip, bytes);
                    foreach (var id in ids) writer.Write(id);
                    text = Encoding.UTF8.GetString(bytes.ToArray());
                }
                var stop = ids.Count == n ? "max_tokens" : promptIds.Count + ids.Count >= session.MaxPositions ? "max_positions" : "eos";
                Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
                {
                    ["model"] = modelPath,
                    ["provider"] = parse.GetValue(provider),
                    ["prompt"] = string.IsNullOrEmpty(promptText) ? null : promptText,
                    ["prompt_ids"] = promptIds,
                    ["ids"] = ids,
                    ["text"] = text,
                    ["stop"] = stop,
                }));
            }
            else
            {
                using var stdout = Console.OpenStandardOutput();
                if (!string.IsNullOrEmpty(promptText)) stdout.Write(Encoding.UTF8.GetBytes(promptText));
                else if (given.Count > 0) stdout.Write(Encoding.UTF8.GetBytes(tok!.Decode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(given))));
                // Print the model's text as is: the leading space of the first word after BOS is kept (llama2.c's
                // run.c strips it), so the output is exactly the decoded token pieces.
                var decoder = new IncrementalDecoderWriter(tok!, promptIds.Count > 1 ? promptIds[^1] : NoStrip, stdout);
                foreach (var id in TextGenerator.Generate(session, promptIds, n, sampling, eos))
                    decoder.Write(id);
                stdout.Write("\n"u8);
            }
            if (atLimit)
                Console.Error.WriteLine($"modelc: warning: generation stops at the model's maximum sequence length {session.MaxPositions}.");
            return ExitCodes.Success;
        }));
        return cmd;
    }

    /// <summary>--prompt-ids: comma-separated ids in [0, vocabulary); MC1006 otherwise.</summary>
    private static List<int> ParseIds(string? text, int vocabSize)
    {
        var ids = new List<int>();
        if (text is null) return ids;
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var id))
                throw new ModelCompilerException("MC1006", $"--prompt-ids: '{part}' is not a token id; give comma-separated integers, e.g. 1,2,3.");
            if (id < 0 || (vocabSize > 0 && id >= vocabSize))
                throw new ModelCompilerException("MC1006", $"--prompt-ids: {id} is outside the model's vocabulary [0, {vocabSize}).");
            ids.Add(id);
        }
        return ids;
    }

    /// <summary>A "previous token" that is neither BOS nor absent, so the tokenizer keeps a leading space.</summary>
    private const int NoStrip = int.MaxValue;

    /// <summary>Streams token bytes as they come; multi-byte characters split over byte tokens arrive whole.</summary>
    private sealed class IncrementalDecoderWriter(ITokenizer tokenizer, int previous, Stream output)
    {
        private int _previous = previous;

        public void Write(int id)
        {
            output.Write(tokenizer.DecodeTokenBytes(_previous, id));
            output.Flush();
            _previous = id;
        }
    }
}

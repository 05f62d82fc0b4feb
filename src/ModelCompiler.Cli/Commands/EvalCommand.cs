using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using ModelCompiler.Evaluation;
using ModelCompiler.Runtime;

namespace ModelCompiler.Cli.Commands;

internal static class EvalCommand
{
    public static Command Create()
    {
        var model = new ModelArgument("ONNX decoder model (or --model).");
        var text = new Option<string?>("--text") { Description = "UTF-8 text; documents separated by <|endoftext|> lines (or --ids)." };
        var ids = new Option<string?>("--ids")
        {
            Description = "Token ids instead of a text, no tokenizer needed: JSON {\"documents\": [{\"ids\": [...]}, ...]} as `modelc tokenize --json` prints (no BOS; BOS is put before every document as for --text).",
        };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Tokenizer; default: the one stored beside the model." };
        var context = new Option<int>("--context") { Description = "Window length in tokens (≥ 2).", DefaultValueFactory = _ => 256 };
        var maxTokens = new Option<int?>("--max-tokens") { Description = "Keep only the first N tokens of the stream." };
        var provider = CliOptions.Provider();
        var ortNative = CliOptions.OrtNative();
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a line: {\"model\", \"text\" (or \"ids\": the file given), \"provider\", \"context\", \"perplexity\", \"nll\" (summed, nats), \"tokens\", \"windows\", \"seconds\"}." };

        var cmd = new Command("eval", "Perplexity of a decoder model on a text (ONNX Runtime).");
        model.AddTo(cmd);
        foreach (var o in new Option[] { text, ids, tokenizer, context, maxTokens, provider, ortNative, json }) cmd.Options.Add(o);
        cmd.SetAction(parse => CommandRunner.Run(parse, () =>
        {
            var textPath = parse.GetValue(text);
            var idsPath = parse.GetValue(ids);
            if ((textPath is null) == (idsPath is null))
                throw new ModelCompilerException("MC1006", textPath is null
                    ? "give the evaluation text with --text, or its token ids with --ids."
                    : "give --text or --ids, not both.");
            var ctx = parse.GetValue(context);
            if (ctx < 2) throw new ModelCompilerException("MC1006", $"--context must be at least 2 (got {ctx}).");
            var modelPath = Path.GetFullPath(model.Value(parse));
            if (!File.Exists(modelPath)) throw new ModelCompilerException("MC1001", "model file not found; check the path.", modelPath);
            var providerName = parse.GetValue(provider)!;
            if (!ExecutionProviders.Known.Contains(providerName))
                throw new ModelCompilerException("MC1006", $"unknown provider '{providerName}'; expected one of: {string.Join(", ", ExecutionProviders.Known)}.");
            ExecutionProviders.UseNativeLibrary(parse.GetValue(ortNative));

            using var options = ExecutionProviders.Create(providerName, modelPath);
            using var session = new DecoderSession(modelPath, options);
            // genai_config.json / config.json beside the model: MC1048 when it contradicts the graph; its context limits
            // the windows. The text's BOS stays the tokenizer's, as in compile's perplexities.
            var config = Compilation.DecoderConfig.Beside(session);
            session.LimitPositions(config.ContextLength);
            if (ctx > session.MaxPositions)
                throw new ModelCompilerException("MC1006", $"--context {ctx} exceeds the model's maximum sequence length {session.MaxPositions}.", modelPath);
            var stream = idsPath is null
                ? TokenStream.Load(textPath!, ModelTokenizer.Load(session, parse.GetValue(tokenizer)), parse.GetValue(maxTokens))
                : IdStream(session, config, idsPath, parse.GetValue(tokenizer), parse.GetValue(maxTokens));
            var progress = new ProgressLine("eval");
            var result = PerplexityEvaluator.Evaluate(session, stream, ctx, progress);
            progress.Done();

            if (parse.GetValue(json))
            {
                var payload = new Dictionary<string, object>
                {
                    ["model"] = modelPath,
                    [idsPath is null ? "text" : "ids"] = stream.SourcePath,
                    ["provider"] = providerName,
                    ["context"] = ctx,
                    ["perplexity"] = result.Perplexity,
                    ["nll"] = result.TotalNll,
                    ["tokens"] = result.PredictedTokens,
                    ["windows"] = result.Windows,
                    ["seconds"] = Math.Round(result.Seconds, 3),
                };
                Console.WriteLine(JsonSerializer.Serialize(payload));
            }
            else
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"perplexity {result.Perplexity:F4} over {result.PredictedTokens} tokens ({result.Windows} windows of ≤{ctx}, {providerName}, {result.TokensPerSecond:F0} tokens/s)"));
            }
            return ExitCodes.Success;
        }));
        return cmd;
    }

    /// <summary>
    /// The --ids stream: BOS from the tokenizer when one fits (so it equals the --text stream), else from the model's
    /// metadata or the genai_config.json / config.json beside it; MC1034 when none knows one.
    /// </summary>
    private static TokenStream IdStream(DecoderSession session, Compilation.DecoderConfig config, string idsPath, string? tokenizerPath, int? maxTokens)
    {
        var documents = TokenIdFile.Load(idsPath, session.VocabSize);
        var tok = OptionalTokenizer.Load(session, tokenizerPath, out var whyNot);
        var meta = session.Session.ModelMetadata.CustomMetadataMap;
        int? metaBos = meta.TryGetValue(Import.Llama2cImporter.MetadataKeys.BosTokenId, out var v)
            && int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var b) ? b : null;
        var bos = tok?.BosId ?? metaBos ?? config.BosTokenId
            ?? throw new ModelCompilerException("MC1034",
                $"no BOS token id is known for this model{(whyNot is null ? "" : $" ({whyNot.Code}: {whyNot.Message.TrimEnd('.')})")}: the perplexity convention puts BOS before every document; give --tokenizer, or a genai_config.json / config.json with bos_token_id beside the model.",
                Path.GetFullPath(session.ModelPath));
        if (bos < 0 || bos >= session.VocabSize)
            throw new ModelCompilerException(TokenIdFile.Invalid, $"the BOS id {bos} is outside the model's vocabulary [0, {session.VocabSize}).", Path.GetFullPath(session.ModelPath));
        return TokenStream.FromDocuments(Path.GetFullPath(idsPath), documents, bos, maxTokens);
    }
}

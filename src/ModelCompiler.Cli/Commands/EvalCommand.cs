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
        var text = new Option<string>("--text") { Description = "UTF-8 text; documents separated by <|endoftext|> lines.", Required = true };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Tokenizer; default: the one stored beside the model." };
        var context = new Option<int>("--context") { Description = "Window length in tokens (≥ 2).", DefaultValueFactory = _ => 256 };
        var maxTokens = new Option<int?>("--max-tokens") { Description = "Keep only the first N tokens of the stream." };
        var provider = CliOptions.Provider();
        var ortNative = CliOptions.OrtNative();
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a line: {\"model\", \"text\", \"provider\", \"context\", \"perplexity\", \"nll\" (summed, nats), \"tokens\", \"windows\", \"seconds\"}." };

        var cmd = new Command("eval", "Perplexity of a decoder model on a text (ONNX Runtime).");
        model.AddTo(cmd);
        foreach (var o in new Option[] { text, tokenizer, context, maxTokens, provider, ortNative, json }) cmd.Options.Add(o);
        cmd.SetAction(parse => CommandRunner.Run(parse, () =>
        {
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
            session.LimitPositions(Compilation.DecoderConfig.Beside(session).ContextLength);
            if (ctx > session.MaxPositions)
                throw new ModelCompilerException("MC1006", $"--context {ctx} exceeds the model's maximum sequence length {session.MaxPositions}.", modelPath);
            var tok = ModelTokenizer.Load(session, parse.GetValue(tokenizer));
            var stream = TokenStream.Load(parse.GetValue(text)!, tok, parse.GetValue(maxTokens));
            var progress = new ProgressLine("eval");
            var result = PerplexityEvaluator.Evaluate(session, stream, ctx, progress);
            progress.Done();

            if (parse.GetValue(json))
            {
                var payload = new Dictionary<string, object>
                {
                    ["model"] = modelPath,
                    ["text"] = stream.SourcePath,
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
}

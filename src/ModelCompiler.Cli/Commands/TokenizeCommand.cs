using System.CommandLine;
using System.Text.Json;
using ModelCompiler.Evaluation;
using ModelCompiler.Tokenization;

namespace ModelCompiler.Cli.Commands;

/// <summary><c>modelc tokenize</c>: the token ids of each document of a text, as eval and calibration see them (no BOS).</summary>
internal static class TokenizeCommand
{
    public static Command Create()
    {
        var tokenizer = new Option<string>("--tokenizer") { Description = "Tokenizer: tokenizer.json, llama2.c .bin, or a model folder.", Required = true };
        var text = new Option<string>("--text") { Description = "UTF-8 text; documents separated by <|endoftext|> lines.", Required = true };
        var json = new Option<bool>("--json") { Description = "Print {\"documents\": [{\"ids\": [...]}, ...]} instead of one line of ids per document." };

        var cmd = new Command("tokenize", "Token ids of each document of a text (no BOS added).");
        foreach (var o in new Option[] { tokenizer, text, json }) cmd.Options.Add(o);
        cmd.SetAction(parse => CommandRunner.Run(parse, () =>
        {
            var tok = TokenizerLoader.Load(parse.GetValue(tokenizer)!);
            var corpus = TextCorpus.Load(parse.GetValue(text)!);
            var documents = corpus.Documents.Select(d => tok.Encode(d)).ToList();
            if (parse.GetValue(json))
            {
                var payload = new { documents = documents.Select(ids => new { ids }).ToList() };
                Console.WriteLine(JsonSerializer.Serialize(payload));
            }
            else
            {
                foreach (var ids in documents) Console.WriteLine(string.Join(' ', ids));
            }
            return ExitCodes.Success;
        }));
        return cmd;
    }
}

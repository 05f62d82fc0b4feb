using System.CommandLine;
using ModelCompiler.Import;
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

        var llama2c = new Command("llama2c", "Import a llama2.c checkpoint as an ONNX decoder (Optimum layout, opset 17).");
        llama2c.Arguments.Add(checkpoint);
        llama2c.Options.Add(tokenizer);
        llama2c.Options.Add(output);
        llama2c.Options.Add(external);
        llama2c.SetAction(parse => CommandRunner.Run(parse, () =>
        {
            var outPath = Path.GetFullPath(parse.GetValue(output)!);
            var options = new SaveOptions { ExternalData = parse.GetValue(external) ? ExternalDataMode.Always : ExternalDataMode.Auto };
            var model = Llama2cImporter.Import(parse.GetValue(checkpoint)!, parse.GetValue(tokenizer), outPath, options);
            Console.Error.WriteLine($"modelc: wrote {outPath} ({model.Graph.Node.Count} nodes, {model.Graph.Initializer.Count} initializers)");
            return ExitCodes.Success;
        }));

        var import = new Command("import", "Import a model from another format.");
        import.Subcommands.Add(llama2c);
        return import;
    }
}

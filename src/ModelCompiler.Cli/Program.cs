using System.CommandLine;
using ModelCompiler.Cli;
using ModelCompiler.Cli.Commands;

var root = new RootCommand("modelc — quantizes ONNX language models for .NET apps: import, evaluate, generate, compile.");
root.Options.Add(CliOptions.Verbose);
root.Subcommands.Add(ImportCommand.Create());
root.Subcommands.Add(EvalCommand.Create());
root.Subcommands.Add(GenerateCommand.Create());
root.Subcommands.Add(TokenizeCommand.Create());
root.Subcommands.Add(CompileCommand.Create());
root.Subcommands.Add(SensitivityCommand.Create());
root.Subcommands.Add(TrainPredictorCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
HelpWithExitCodes.Install(root);

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    foreach (var error in parsed.Errors)
        Console.Error.WriteLine($"modelc: error MC1006: {error.Message} (see 'modelc --help')");
    return ExitCodes.BadInput;
}
return parsed.Invoke();

using System.CommandLine;
using System.Globalization;
using ModelCompiler.Runtime;

namespace ModelCompiler.Cli;

internal static class ExitCodes
{
    public const int Success = 0;
    public const int GateFailed = 1;
    public const int BadInput = 2;
    public const int RuntimeFailure = 3;

    /// <summary>The exit-code section every --help ends with (root and each command).</summary>
    public static string HelpSection(Command command) => $"""
        Exit codes:
          {Success}  success{(command.Name == "compile" ? " (also with --gates-as-warnings when a gate missed)" : "")}
          {GateFailed}  {(command is RootCommand ? "a quality gate in the spec missed (MC2xxx; compile only)" : command.Name == "compile" ? "a quality gate in the spec missed (MC2xxx)" : "not used by this command (it has no gates)")}
          {BadInput}  bad input: arguments, spec, model, text or tokenizer (MC1xxx; the line says what and where)
          {RuntimeFailure}  runtime failure: ONNX Runtime, an execution provider, or an internal error (MC3xxx)
        Errors are one line on stderr: '<file>(<line>,<col>): error MCxxxx: <message>' or 'modelc: error MCxxxx: ...'.
        Every code, its cause and its fix: docs/errors.md.
        """;

    /// <summary>MC1xxx is the user's input, MC2xxx a missed gate, everything else the runtime.</summary>
    public static int For(ModelCompilerException e) => e.Code.StartsWith("MC1", StringComparison.Ordinal) ? BadInput
        : e.Code.StartsWith("MC2", StringComparison.Ordinal) ? GateFailed
        : RuntimeFailure;
}

/// <summary>--help as System.CommandLine writes it, then the exit codes.</summary>
internal sealed class HelpWithExitCodes(System.CommandLine.Invocation.SynchronousCommandLineAction help) : System.CommandLine.Invocation.SynchronousCommandLineAction
{
    public override bool ClearsParseErrors => help.ClearsParseErrors;

    public override int Invoke(ParseResult parseResult)
    {
        var code = help.Invoke(parseResult);
        var output = parseResult.InvocationConfiguration.Output;
        output.WriteLine(ExitCodes.HelpSection(parseResult.CommandResult.Command));
        return code;
    }

    /// <summary>Wraps the root's (recursive) help option, so every command's --help ends with the exit codes.</summary>
    public static void Install(RootCommand root)
    {
        var option = root.Options.OfType<System.CommandLine.Help.HelpOption>().Single();
        option.Action = new HelpWithExitCodes((System.CommandLine.Invocation.SynchronousCommandLineAction)option.Action!);
    }
}

internal static class CliOptions
{
    public static readonly Option<bool> Verbose = new("--verbose", "-v")
    {
        Description = "Show stack traces and ONNX Runtime details on errors.",
        Recursive = true,
    };

    public static Option<string?> OrtNative() => new("--ort-native")
    {
        Description = $"A CUDA-enabled onnxruntime native library of the same version (e.g. from Microsoft.ML.OnnxRuntime.Gpu); also {ExecutionProviders.NativeLibraryVariable}.",
    };

    public static Option<string> Provider() => new("--provider")
    {
        Description = "Execution provider: cpu or cuda.",
        DefaultValueFactory = _ => ExecutionProviders.Cpu,
    };
}

/// <summary>
/// The model a command reads, by one convention everywhere: positional (<c>modelc compile m.onnx --spec s.yaml</c>),
/// with <c>--model</c> still accepted (compile's and sensitivity's spelling in existing scripts and CI).
/// </summary>
internal sealed class ModelArgument
{
    public ModelArgument(string description)
    {
        Positional = new Argument<string?>("model") { Description = description, Arity = ArgumentArity.ZeroOrOne };
        Named = new Option<string?>("--model") { Description = "The same model, by name rather than position (either spelling; both must agree)." };
    }

    public Argument<string?> Positional { get; }
    public Option<string?> Named { get; }

    public void AddTo(Command command)
    {
        command.Arguments.Add(Positional);
        command.Options.Add(Named);
    }

    /// <summary>The model path as given (MC1006 when missing, MC1013 when the two spellings name different files).</summary>
    public string Value(ParseResult parse)
    {
        var positional = parse.GetValue(Positional);
        var named = parse.GetValue(Named);
        if (string.IsNullOrEmpty(positional) && string.IsNullOrEmpty(named))
            throw new ModelCompilerException("MC1006", $"'{parse.CommandResult.Command.Name}' needs a model: 'modelc {parse.CommandResult.Command.Name} <model.onnx> ...' (or --model <model.onnx>).");
        if (string.IsNullOrEmpty(positional)) return named!;
        if (string.IsNullOrEmpty(named)) return positional;
        if (!string.Equals(Path.GetFullPath(positional), Path.GetFullPath(named), OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal))
            throw new ModelCompilerException("MC1013", $"the model is given twice and the two differ: '{positional}' (positional) and '{named}' (--model); give it once.");
        return positional;
    }
}

/// <summary>Runs a command body, turning our exceptions into one diagnostic line and an exit code.</summary>
internal static class CommandRunner
{
    public static int Run(ParseResult parse, Func<int> body)
    {
        var verbose = parse.GetValue(CliOptions.Verbose);
        try
        {
            return body();
        }
        catch (ModelCompilerException e)
        {
            Console.Error.WriteLine(e.ToDiagnosticString());
            if (verbose) Console.Error.WriteLine(e);
            return ExitCodes.For(e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"modelc: error MC1008: {e.Message}");
            if (verbose) Console.Error.WriteLine(e);
            return ExitCodes.BadInput;
        }
        catch (Exception e)
        {
            // An internal error is exit 3 with or without --verbose; --verbose only adds the stack trace.
            Console.Error.WriteLine($"modelc: error MC3000: internal error: {e.GetType().Name}: {e.Message} (run with --verbose for details and report it)");
            if (verbose) Console.Error.WriteLine(e);
            return ExitCodes.RuntimeFailure;
        }
    }
}

/// <summary>
/// Progress on stderr: rewrites one line on a terminal, prints a line at most every few seconds when redirected
/// (CI logs), so long runs show life without flooding.
/// </summary>
internal sealed class ProgressLine(string stage) : IProgress<Evaluation.EvaluationProgress>
{
    private static readonly bool Interactive = !Console.IsErrorRedirected;
    private DateTime _last = DateTime.MinValue;
    private bool _dirty;

    public void Report(Evaluation.EvaluationProgress p)
    {
        var now = DateTime.UtcNow;
        var final = p.Window == p.Windows;
        if (!final && now - _last < TimeSpan.FromSeconds(Interactive ? 0.2 : 5)) return;
        _last = now;
        var rate = p.Seconds > 0 ? p.Tokens / p.Seconds : 0;
        var text = string.Create(CultureInfo.InvariantCulture,
            $"[{stage}] window {p.Window}/{p.Windows}, {p.Tokens}/{p.TotalTokens} tokens, {rate:F0} tokens/s");
        if (Interactive)
        {
            Console.Error.Write("\r" + text + "   ");
            _dirty = !final;
            if (final) Console.Error.WriteLine();
        }
        else
        {
            Console.Error.WriteLine(text);
        }
    }

    public void Done()
    {
        if (_dirty) Console.Error.WriteLine();
        _dirty = false;
    }
}

/// <summary>Compile stages and warnings on stderr, one line each; progress through <see cref="ProgressLine"/>.</summary>
internal sealed class StderrCompileReporter : Compilation.ICompileReporter
{
    public void Stage(string stage, string detail) => Console.Error.WriteLine($"[{stage}] {detail}");
    public IProgress<Evaluation.EvaluationProgress> Progress(string stage) => new ProgressLine(stage);
    public void Warning(string diagnosticLine) => Console.Error.WriteLine(diagnosticLine);
}

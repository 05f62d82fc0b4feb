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

    /// <summary>MC1xxx is the user's input, MC2xxx a missed gate, everything else the runtime.</summary>
    public static int For(ModelCompilerException e) => e.Code.StartsWith("MC1", StringComparison.Ordinal) ? BadInput
        : e.Code.StartsWith("MC2", StringComparison.Ordinal) ? GateFailed
        : RuntimeFailure;
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

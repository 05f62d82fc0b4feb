using ModelCompiler.Runtime;
using ModelCompiler.Tokenization;

namespace ModelCompiler.Cli.Commands;

/// <summary>
/// The tokenizer of eval --ids and generate --json, which can run on ids alone: one given with --tokenizer must load and
/// fit (its errors stand); one only found beside the model is used when it loads and fits the logits, else left out.
/// </summary>
internal static class OptionalTokenizer
{
    /// <summary>Advice added to a tokenizer error where the ids path would have run.</summary>
    public const string IdsHint = "without a tokenizer that fits, use --json (ids out) and --prompt-ids (ids in)";

    /// <summary>The tokenizer, or null with the error that kept the one beside the model out.</summary>
    public static ITokenizer? Load(DecoderSession session, string? explicitPath, out ModelCompilerException? whyNot)
    {
        whyNot = null;
        if (explicitPath is not null) return ModelTokenizer.Load(session, explicitPath);
        try { return ModelTokenizer.Load(session, null); }
        catch (ModelCompilerException e) when (e.Code.StartsWith("MC102", StringComparison.Ordinal))
        {
            whyNot = e;
            return null;
        }
    }

    /// <summary>The same error with advice appended: what to run instead.</summary>
    public static ModelCompilerException WithHint(ModelCompilerException e, string hint)
        => new(e.Code, $"{e.Message.TrimEnd('.')}; {hint}.", e.File, e.Line, e.Column, e);
}

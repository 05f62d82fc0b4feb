using ModelCompiler.IO;
using ModelCompiler.Policies;
using ModelCompiler.Spec;

namespace ModelCompiler.Compilation;

/// <summary>The input and output paths of one compile, checked by <see cref="PathGuard"/> before any work.</summary>
internal static class CompileOutputs
{
    /// <summary>Output options non-empty; spec and model regular files (before either is read).</summary>
    public static void RequireUsablePaths(CompileOptions options)
    {
        PathGuard.RequireOutputPath(options.OutputPath, "--output");
        if (options.ManifestPath is not null) PathGuard.RequireOutputPath(options.ManifestPath, "--manifest");
        if (options.ReportPath is not null) PathGuard.RequireOutputPath(options.ReportPath, "--report");
        if (options.DepsPath is not null) PathGuard.RequireOutputPath(options.DepsPath, "--deps");
        PathGuard.RequireRegularInput(options.SpecPath, "spec");
        PathGuard.RequireRegularInput(options.ModelPath, "model");
    }

    /// <summary>The files the spec names (texts, tokenizer, predictor) are regular files; before the policy reads its file.</summary>
    public static void RequireRegularSpecInputs(QuantizationSpec spec)
    {
        foreach (var (role, path) in SpecInputs(spec)) PathGuard.RequireRegularInput(path, role);
    }

    public static void RequireDisjoint(CompileOptions options, QuantizationSpec spec, string modelPath, IEnumerable<string> externalData, string? tokenizer)
    {
        foreach (var data in externalData) PathGuard.RequireRegularInput(data, "external data file");
        PathGuard.RequireRegularInput(tokenizer, "tokenizer");
        var inputs = new List<(string, string)> { ("model", modelPath), ("spec", spec.SpecPath) };
        inputs.AddRange(externalData.Select(d => ("external data file", d)));
        inputs.AddRange(SpecInputs(spec));
        if (tokenizer is not null) inputs.Add(("tokenizer", tokenizer));
        PathGuard.RequireDisjoint(inputs, Outputs(options, tokenizer is not null));
    }

    /// <summary>
    /// The file name of the tokenizer copy beside <paramref name="outputPath"/>: its stem and the tokenizer's format,
    /// <c>model.q.tokenizer.json</c> for a tokenizer.json, <c>.tokenizer.model</c> for SentencePiece, <c>.tokenizer.bin</c> for llama2.c.
    /// </summary>
    public static string TokenizerCopyName(string outputPath, string tokenizerPath) =>
        Path.GetFileNameWithoutExtension(outputPath) + Tokenization.TokenizerLoader.CopySuffix(tokenizerPath);

    /// <summary>Every path a compile may write (the model's external data and tokenizer copy included).</summary>
    public static IEnumerable<(string Role, string Path)> Outputs(CompileOptions options, bool withTokenizer)
    {
        var output = Path.GetFullPath(options.OutputPath);
        var outDir = Path.GetDirectoryName(output)!;
        yield return ("--output model", output);
        yield return ("output external data file", output + ".data");
        // Every format's name: compile writes one and removes the others (a copy of an earlier format).
        if (withTokenizer)
            foreach (var suffix in Tokenization.TokenizerLoader.CopySuffixes)
                yield return ("output tokenizer copy", Path.Combine(outDir, Path.GetFileNameWithoutExtension(output) + suffix));
        yield return ("--manifest", options.ResolvedManifestPath);
        yield return ("--report", options.ResolvedReportPath);
        yield return ("layer plot", Path.Combine(Path.GetDirectoryName(options.ResolvedReportPath)!, Path.GetFileNameWithoutExtension(options.ResolvedReportPath) + ".layers.svg"));
        if (options.DepsPath is not null) yield return ("--deps", Path.GetFullPath(options.DepsPath));
    }

    /// <summary>The folders outputs land in (where stale staging of killed runs is looked for).</summary>
    public static IEnumerable<string> Folders(CompileOptions options) =>
        Outputs(options, true).Select(o => Path.GetDirectoryName(o.Path)!).Distinct(StringComparer.Ordinal);

    private static IEnumerable<(string Role, string Path)> SpecInputs(QuantizationSpec spec)
    {
        if (spec.Calibration.Source is TextSourceSpec c) yield return ("calibration text", c.Text.FullPath);
        if (spec.Evaluation.Source is TextSourceSpec e) yield return ("evaluation text", e.Text.FullPath);
        if (spec.Calibration.Tokenizer is { } ct) yield return ("tokenizer", ct.FullPath);
        if (spec.Evaluation.Tokenizer is { } et) yield return ("tokenizer", et.FullPath);
        if (spec.Policy is IPolicyWithFile { PolicyFile: { } file }) yield return ("predictor file", file);
    }
}

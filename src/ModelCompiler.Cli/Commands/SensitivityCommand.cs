using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using ModelCompiler.Compilation;
using ModelCompiler.Evaluation;
using ModelCompiler.Runtime;

namespace ModelCompiler.Cli.Commands;

/// <summary><c>modelc sensitivity</c>: one CSV row per layer, its features and the loss change when only it is INT8.</summary>
internal static class SensitivityCommand
{
    public static Command Create()
    {
        var model = new ModelArgument("The fp32 ONNX model (or --model).");
        var spec = new Option<string>("--spec") { Description = "A quantization spec: its calibration section gives the tokens.", Required = true };
        var output = new Option<string>("--output", "-o") { Description = "The CSV to write (one row per layer).", Required = true };
        var group = new Option<string?>("--group") { Description = "The model's name in the CSV; cross-validation keeps a group's rows on one side (default: the model file's name)." };
        var probeTokens = new Option<int>("--probe-tokens") { Description = "Calibration tokens per measurement.", DefaultValueFactory = _ => 2048 };
        var threshold = new Option<double>("--label-kl-ratio") { Description = "Label 1 when a layer alone moves the output distribution (KL) more than this many times the mean layer (or 30 times the median layer).", DefaultValueFactory = _ => SensitivitySweep.DefaultLabelKlRatio };
        var json = new Option<bool>("--json") { Description = "Print the rows as one JSON object on stdout: {\"rows\": [{\"model\", \"layer\", \"role\", \"delta_nll_pct\", \"kl\", \"label\"}]}." };
        var ortNative = CliOptions.OrtNative();

        var cmd = new Command("sensitivity", "Measure each layer's loss change when only it is INT8 (the predictor's training data).");
        model.AddTo(cmd);
        foreach (var o in new Option[] { spec, output, group, probeTokens, threshold, ortNative, json }) cmd.Options.Add(o);
        cmd.SetAction(parse => CommandRunner.Run(parse, () =>
        {
            ExecutionProviders.UseNativeLibrary(parse.GetValue(ortNative));
            var tokens = parse.GetValue(probeTokens);
            if (tokens < 2) throw new ModelCompilerException("MC1006", $"--probe-tokens must be at least 2 (got {tokens}).");
            var labelThreshold = parse.GetValue(threshold);
            if (!double.IsFinite(labelThreshold) || labelThreshold < 1) throw new ModelCompilerException("MC1006", $"--label-kl-ratio must be a finite number ≥ 1 (got {labelThreshold}).");
            var rows = SensitivitySweep.Run(
                new SensitivitySweep.Options(model.Value(parse), parse.GetValue(spec)!, parse.GetValue(output)!, parse.GetValue(group), tokens, labelThreshold),
                new StderrCompileReporter());
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"modelc: wrote {rows.Count} rows, {rows.Count(r => r.Label)} labelled sensitive (KL > {labelThreshold} × the mean or 30 × the median layer's), to {Path.GetFullPath(parse.GetValue(output)!)}"));
            if (parse.GetValue(json))
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    rows = rows.Select(r => new { model = r.Model, layer = r.Layer, role = r.Role, delta_nll_pct = r.DeltaNllPct, kl = r.KlDivergence, label = r.Label }),
                }));
            return ExitCodes.Success;
        }));
        return cmd;
    }
}

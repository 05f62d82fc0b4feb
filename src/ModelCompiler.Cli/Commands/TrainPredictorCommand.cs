using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using ModelCompiler.Policies;

namespace ModelCompiler.Cli.Commands;

internal static class TrainPredictorCommand
{
    public static Command Create()
    {
        var inputs = new Argument<string[]>("csv") { Description = "Sensitivity CSVs written by 'modelc sensitivity' (rows of all are pooled).", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--output", "-o") { Description = "The predictor file to write.", Required = true };
        var json = new Option<bool>("--json") { Description = "Print the cross-validation figures and the choice as one JSON object on stdout: {\"output\", \"saved\", \"rows\", \"models\", \"positives\", \"trainers\": [{\"trainer\", \"folds\", \"accuracy\", \"auc\", \"f1\", \"degenerate_folds\"}]}." };

        var cmd = new Command("train-predictor",
            "Train the layer-risk predictor (ALMP) on sensitivity CSVs: cross-validate each trainer with folds of whole models, save the best by AUC.");
        cmd.Arguments.Add(inputs);
        cmd.Options.Add(output);
        cmd.Options.Add(json);
        cmd.SetAction(parse => CommandRunner.Run(parse, () =>
        {
            var outputPath = Path.GetFullPath(parse.GetValue(output)!);
            var rows = new List<SensitivityRow>();
            foreach (var csv in parse.GetValue(inputs)!)
            {
                var full = Path.GetFullPath(csv);
                if (full == outputPath)
                    throw new ModelCompilerException("MC1007", "--output must differ from the input CSVs; modelc never overwrites its input.", outputPath);
                var read = SensitivityTable.Read(full);
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"[read] {full}: {read.Count} rows, {read.Select(r => r.Model).Distinct().Count()} models, {read.Count(r => r.Label)} labelled 1"));
                rows.AddRange(read);
            }
            var trained = PredictorTrainer.Train(rows, log: line => Console.Error.WriteLine(line));
            PredictorFile.Save(outputPath, trained);
            Console.Error.WriteLine($"[save] {outputPath}");
            Console.WriteLine(parse.GetValue(json) ? Json(trained.Header, outputPath) : Table(trained.Header, outputPath));
            return ExitCodes.Success;
        }));
        return cmd;
    }

    private static string Table(PredictorHeader h, string path)
    {
        var sb = new StringBuilder();
        var width = Math.Max("trainer".Length, h.CrossValidation.Max(s => s.Trainer.Length));
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"{"trainer".PadRight(width)}  folds  accuracy     AUC      F1"));
        foreach (var s in h.CrossValidation)
        {
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"{s.Trainer.PadRight(width)}  {s.Folds,5}  {s.Accuracy,8:F4}  {Figure(s.Auc),6}  {Figure(s.F1),6}{(s.DegenerateFolds > 0 ? $"  ({s.DegenerateFolds} folds trained on one class)" : "")}"));
        }
        sb.Append(string.Create(CultureInfo.InvariantCulture,
            $"saved {h.Trainer} (best AUC, ties by F1), trained on {h.Rows} rows of {h.Models.Count} models ({h.Positives} labelled 1), to {path}"));
        return sb.ToString();
    }

    private static string Figure(double v) => double.IsFinite(v) ? v.ToString("F4", CultureInfo.InvariantCulture) : "n/a";

    private static string Json(PredictorHeader h, string path)
    {
        var payload = new Dictionary<string, object?>
        {
            ["output"] = path,
            ["saved"] = h.Trainer,
            ["rows"] = h.Rows,
            ["models"] = h.Models,
            ["positives"] = h.Positives,
            ["trainers"] = h.CrossValidation.Select(s => new Dictionary<string, object?>
            {
                ["trainer"] = s.Trainer,
                ["folds"] = s.Folds,
                ["accuracy"] = Finite(s.Accuracy),
                ["auc"] = Finite(s.Auc),
                ["f1"] = Finite(s.F1),
                ["degenerate_folds"] = s.DegenerateFolds,
            }).ToList(),
        };
        return JsonSerializer.Serialize(payload);
    }

    private static double? Finite(double v) => double.IsFinite(v) ? v : null;
}

using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using ModelCompiler.Compilation;
using ModelCompiler.Evaluation;
using ModelCompiler.Runtime;
using ModelCompiler.Validation;

namespace ModelCompiler.Cli.Commands;

internal static class CompileCommand
{
    public static Command Create()
    {
        var model = new ModelArgument("The fp32 ONNX model to quantize (or --model).");
        var spec = new Option<string>("--spec") { Description = "The YAML quantization spec.", Required = true };
        var output = new Option<string>("--output", "-o") { Description = "The quantized ONNX model to write.", Required = true };
        var manifest = new Option<string?>("--manifest") { Description = "Manifest JSON (default: <output stem>.manifest.json)." };
        var report = new Option<string?>("--report") { Description = "Markdown report (default: <output stem>.report.md)." };
        var deps = new Option<string?>("--deps") { Description = "Write every input file read, one per line (for incremental builds)." };
        var gatesAsWarnings = new Option<bool>("--gates-as-warnings") { Description = "Report missed gates as warnings and exit 0 (local experiments)." };
        var json = new Option<bool>("--json") { Description = "Print the manifest's summary as one JSON object on stdout: {\"passed\", \"failed_gate\", \"output\", \"manifest\", \"report\", \"layers\", \"int8_layers\", \"int8_fraction\", \"providers\": [{\"name\", \"status\", \"reason\", \"fp32_perplexity\", \"quantized_perplexity\", \"perplexity_increase_pct\", \"mean_kl_divergence\", \"top1_agreement\", ...}], \"gates\": [{\"name\", \"code\", \"limit\", \"measured\", \"passed\", \"provider\"}], \"timings_seconds\", \"wall_seconds\", \"forward_seconds\", \"peak_rss_bytes\", \"threads\"}." };
        var ortNative = CliOptions.OrtNative();
        var threads = new Option<int?>("--threads") { Description = $"ONNX Runtime threads for sampling, calibration and validation (default: {ComputeThreads.Variable}, else every core); outputs do not depend on it." };

        var cmd = new Command("compile", "Calibrate, quantize (QDQ INT8 + FP16/FP32 fallback), validate and gate a model per a YAML spec.");
        model.AddTo(cmd);
        foreach (var o in new Option[] { spec, output, manifest, report, deps, ortNative, threads, gatesAsWarnings, json }) cmd.Options.Add(o);
        cmd.SetAction(parse => CommandRunner.Run(parse, () =>
        {
            ExecutionProviders.UseNativeLibrary(parse.GetValue(ortNative));
            ComputeThreads.Set(parse.GetValue(threads));
            var options = new CompileOptions(model.Value(parse), parse.GetValue(spec)!, parse.GetValue(output)!)
            {
                ManifestPath = parse.GetValue(manifest),
                ReportPath = parse.GetValue(report),
                DepsPath = parse.GetValue(deps),
            };
            var result = QuantizationCompiler.Compile(options, new StderrCompileReporter());

            var asWarnings = parse.GetValue(gatesAsWarnings);
            foreach (var g in result.Gates.Where(g => !g.Passed))
                Console.Error.WriteLine($"{g.Location}: {(asWarnings ? "warning" : "error")} {g.Code}: {g.Message}");
            Console.Error.WriteLine($"modelc: report: {options.ResolvedReportPath}");
            Console.Error.WriteLine(Summary(result));
            if (parse.GetValue(json)) Console.WriteLine(Json(result, options));
            return result.Passed || asWarnings ? ExitCodes.Success : ExitCodes.GateFailed;
        }));
        return cmd;
    }

    private static string Summary(CompileResult r)
    {
        var p = r.Providers.FirstOrDefault(x => x.Status == ProviderStatus.Ok);
        var timings = string.Join(", ", r.Timings.GroupBy(t => t.Stage).Select(g => string.Create(CultureInfo.InvariantCulture, $"{g.Key} {g.Sum(t => t.Seconds):F2}s")));
        return string.Create(CultureInfo.InvariantCulture,
            $"modelc: {(r.Passed ? "passed" : "FAILED")}: {r.Int8Layers}/{r.Decisions.Count} layers INT8 ({100 * r.Int8ParameterFraction:F0}% of weights); perplexity {p?.Fp32Perplexity:F4} → {p?.QuantizedPerplexity:F4} ({(p is null ? "n/a" : ReportNumbers.SignedPercent(p.PerplexityIncreasePct, 3))}) on {p?.Provider}; {timings}");
    }

    private static string Json(CompileResult r, CompileOptions o)
    {
        var summary = new Dictionary<string, object?>
        {
            ["passed"] = r.Passed,
            ["failed_gate"] = r.Gates.FirstOrDefault(g => !g.Passed)?.Name,
            ["output"] = Path.GetFullPath(o.OutputPath),
            ["manifest"] = o.ResolvedManifestPath,
            ["report"] = o.ResolvedReportPath,
            ["layers"] = r.Decisions.Count,
            ["int8_layers"] = r.Int8Layers,
            ["int8_fraction"] = r.Int8ParameterFraction,
            ["providers"] = r.Providers.Select(p => new Dictionary<string, object?>
            {
                ["name"] = p.Provider,
                ["status"] = p.Status.ToString().ToLowerInvariant(),
                ["reason"] = p.Reason,
                ["fp32_perplexity"] = Finite(p.Fp32Perplexity),
                ["quantized_perplexity"] = Finite(p.QuantizedPerplexity),
                ["perplexity_increase_pct"] = Finite(p.PerplexityIncreasePct),
                ["mean_kl_divergence"] = Finite(p.MeanKlDivergence),
                ["top1_agreement"] = Finite(p.Top1Agreement),
                ["fp32_ms_per_window"] = Finite(p.Fp32MillisecondsPerWindow),
                ["quantized_ms_per_window"] = Finite(p.QuantizedMillisecondsPerWindow),
            }).ToList(),
            ["gates"] = r.Gates.Select(g => new Dictionary<string, object?>
            {
                ["name"] = g.Name, ["code"] = g.Code, ["limit"] = g.Limit, ["measured"] = g.Measured, ["passed"] = g.Passed, ["provider"] = g.Provider,
            }).ToList(),
            // Summed per stage: the closed loop runs transform and validate several times.
            ["timings_seconds"] = r.Timings.GroupBy(t => t.Stage).ToDictionary(g => g.Key, g => (object?)Math.Round(g.Sum(t => t.Seconds), 3)),
            ["wall_seconds"] = Math.Round(r.Timings.Sum(t => t.Seconds), 3),
            // Time inside ONNX Runtime forward passes (sampling, calibration, probes, validation): the rest is modelc's own work.
            ["forward_seconds"] = Math.Round(ForwardTime.Total.TotalSeconds, 3),
            // The compile resets the high-water mark after each stage: its peak is the highest stage peak.
            ["peak_rss_bytes"] = Math.Max(r.PeakRssBytes ?? 0, new Benchmarking.PeakRss().Peak()),
            ["peak_rss_bytes_by_stage"] = r.StagePeakRss.GroupBy(p => p.Stage).ToDictionary(g => g.Key, g => (object?)g.Max(p => p.Bytes)),
            ["threads"] = ComputeThreads.Count,
        };
        return JsonSerializer.Serialize(summary);
    }

    private static double? Finite(double v) => double.IsFinite(v) ? v : null;
}

using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using ModelCompiler.Benchmarking;
using ModelCompiler.Runtime;

namespace ModelCompiler.Cli.Commands;

internal static class BenchCommand
{
    public static Command Create()
    {
        var model = new ModelArgument("ONNX decoder model: the baseline of the comparison (or --model).");
        var compare = new Option<string[]>("--compare")
        {
            Description = "More models to time against the baseline, interleaved in the same process.",
            AllowMultipleArgumentsPerToken = true,
            DefaultValueFactory = _ => [],
        };
        var prefill = new Option<int>("--prefill") { Description = "Prompt tokens in the timed forward pass (≥ 1).", DefaultValueFactory = _ => 256 };
        var decode = new Option<int>("--decode") { Description = "Tokens decoded one by one with the KV cache after the prefill (≥ 0).", DefaultValueFactory = _ => 32 };
        var threads = new Option<int>("--threads") { Description = "ONNX Runtime intra-op threads; default: every core.", DefaultValueFactory = _ => Environment.ProcessorCount };
        var repeats = new Option<int>("--repeats") { Description = "Timed runs per model; the medians are reported.", DefaultValueFactory = _ => 5 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed runs per model before timing.", DefaultValueFactory = _ => 1 };
        var seed = new Option<int>("--seed") { Description = "Seed of the random prompt tokens.", DefaultValueFactory = _ => 1234 };
        var provider = CliOptions.Provider();
        var ortNative = CliOptions.OrtNative();
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table: {\"provider\", \"threads\", \"prefill\", \"decode\", \"repeats\", \"results\": [{\"model\", \"prefill_tokens_per_s\", \"decode_tokens_per_s\", \"peak_rss_bytes\", \"prefill_seconds\", \"decode_seconds\", \"ratios\", \"profile\"}]}." };
        var profile = new Option<string?>("--profile") { Description = "Folder for ONNX Runtime profiles: one extra untimed run per model, kernel time summed per operator type." };

        var cmd = new Command("bench", "Prefill and decode speed, and peak memory, of decoder models side by side (ONNX Runtime).");
        model.AddTo(cmd);
        foreach (var o in new Option[] { compare, prefill, decode, threads, repeats, warmup, seed, provider, ortNative, profile, json }) cmd.Options.Add(o);
        cmd.SetAction(parse => CommandRunner.Run(parse, () =>
        {
            var settings = new BenchmarkSettings(parse.GetValue(prefill), parse.GetValue(decode), parse.GetValue(warmup), parse.GetValue(repeats), parse.GetValue(seed));
            if (settings.PrefillTokens < 1) throw new ModelCompilerException("MC1006", $"--prefill must be at least 1 (got {settings.PrefillTokens}).");
            if (settings.DecodeTokens < 0) throw new ModelCompilerException("MC1006", $"--decode must be ≥ 0 (got {settings.DecodeTokens}).");
            if (settings.Repeats < 1) throw new ModelCompilerException("MC1006", $"--repeats must be at least 1 (got {settings.Repeats}).");
            if (settings.Warmup < 0) throw new ModelCompilerException("MC1006", $"--warmup must be ≥ 0 (got {settings.Warmup}).");
            var threadCount = parse.GetValue(threads);
            if (threadCount < 1) throw new ModelCompilerException("MC1006", $"--threads must be at least 1 (got {threadCount}).");
            var providerName = parse.GetValue(provider)!;
            if (!ExecutionProviders.Known.Contains(providerName))
                throw new ModelCompilerException("MC1006", $"unknown provider '{providerName}'; expected one of: {string.Join(", ", ExecutionProviders.Known)}.");

            var models = new List<string> { model.Value(parse) };
            models.AddRange(parse.GetValue(compare) ?? []);
            models = models.Select(Path.GetFullPath).ToList();
            foreach (var m in models)
                if (!File.Exists(m)) throw new ModelCompilerException("MC1001", "model file not found; check the path.", m);
            ExecutionProviders.UseNativeLibrary(parse.GetValue(ortNative));

            var profileDir = parse.GetValue(profile) is { } p ? Directory.CreateDirectory(Path.GetFullPath(p)).FullName : null;
            DecoderSession Open(string path, bool profiled)
            {
                using var options = ExecutionProviders.Create(providerName, path);
                options.IntraOpNumThreads = threadCount;
                options.InterOpNumThreads = 1;
                if (profiled)
                {
                    // The prefix first: setting EnableProfiling hands ORT the prefix it has at that moment.
                    options.ProfileOutputPathPrefix = Path.Combine(profileDir!, Path.GetFileNameWithoutExtension(path) + "-");
                    options.EnableProfiling = true;
                }
                return new DecoderSession(path, options);
            }

            var progress = new Progress(models);
            var results = DecoderBenchmark.Run(models, m => Open(m, false), settings, progress);
            var baseline = results[0];
            var profiles = new Dictionary<string, (string File, IReadOnlyList<OpTime> Ops)>(StringComparer.Ordinal);
            if (profileDir is not null)
                foreach (var m in models)
                {
                    progress.Report(new BenchmarkProgress(m, "profile", 1, 1));
                    var file = DecoderBenchmark.Profile(m, x => Open(x, true), settings);
                    profiles[m] = (Path.GetFullPath(file), OrtProfile.ByOpType(file));
                }

            if (parse.GetValue(json))
            {
                var payload = new Dictionary<string, object>
                {
                    ["provider"] = providerName,
                    ["threads"] = threadCount,
                    ["prefill"] = settings.PrefillTokens,
                    ["decode"] = settings.DecodeTokens,
                    ["repeats"] = settings.Repeats,
                    ["results"] = results.Select(r => new Dictionary<string, object?>
                    {
                        ["model"] = r.Model,
                        ["prefill_tokens_per_s"] = Math.Round(r.PrefillTokensPerSecond, 2),
                        ["decode_tokens_per_s"] = Math.Round(r.DecodeTokensPerSecond, 2),
                        ["peak_rss_bytes"] = r.PeakRssBytes,
                        ["prefill_seconds"] = r.PrefillSeconds.Select(s => Math.Round(s, 5)).ToArray(),
                        ["decode_seconds"] = r.DecodeSeconds.Select(s => Math.Round(s, 5)).ToArray(),
                        ["ratios"] = DecoderBenchmark.Ratios(r, baseline).ToDictionary(kv => kv.Key, kv => Math.Round(kv.Value, 4)),
                        ["profile"] = profiles.TryGetValue(r.Model, out var prof) ? new Dictionary<string, object>
                        {
                            ["file"] = prof.File,
                            ["ops"] = prof.Ops.Select(o => new Dictionary<string, object>
                            {
                                ["op"] = o.OpType, ["microseconds"] = Math.Round(o.Microseconds), ["calls"] = o.Calls, ["share"] = Math.Round(o.Share, 4),
                            }).ToArray(),
                        } : null,
                    }).ToArray(),
                };
                Console.WriteLine(JsonSerializer.Serialize(payload));
            }
            else
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{providerName}, {threadCount} threads, prefill {settings.PrefillTokens}, decode {settings.DecodeTokens}, median of {settings.Repeats}"));
                Console.WriteLine($"{"model",-40} {"prefill tok/s",14} {"decode tok/s",13} {"peak RSS MiB",13}  ratios vs baseline");
                foreach (var r in results)
                {
                    var ratios = DecoderBenchmark.Ratios(r, baseline);
                    var versus = ReferenceEquals(r, baseline) ? "(baseline)" : string.Create(CultureInfo.InvariantCulture,
                        $"prefill {ratios["prefill_tokens_per_s"]:F2}×, decode {ratios["decode_tokens_per_s"]:F2}×, RSS {ratios["peak_rss_bytes"]:F2}×");
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{Path.GetFileName(r.Model),-40} {r.PrefillTokensPerSecond,14:F1} {r.DecodeTokensPerSecond,13:F1} {r.PeakRssBytes / 1048576.0,13:F1}  {versus}"));
                }
                foreach (var (m, prof) in profiles)
                {
                    Console.WriteLine($"profile of {Path.GetFileName(m)} ({prof.File}): kernel time by operator type");
                    foreach (var o in prof.Ops.Take(8))
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {o.OpType,-28} {o.Share,7:P1} {o.Microseconds / 1000,10:F1} ms {o.Calls,7} calls"));
                }
            }
            return ExitCodes.Success;
        }));
        return cmd;
    }

    /// <summary>One stderr line per phase change and per repeat, so a long benchmark shows where it is.</summary>
    private sealed class Progress(IReadOnlyList<string> models) : IProgress<BenchmarkProgress>
    {
        public void Report(BenchmarkProgress p) => Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"[bench] {p.Phase} {p.Repeat}/{p.Repeats} {Path.GetFileName(p.Model)} (model {IndexOf(p.Model) + 1}/{models.Count})"));

        private int IndexOf(string model)
        {
            for (var i = 0; i < models.Count; i++) if (models[i] == model) return i;
            return -1;
        }
    }
}

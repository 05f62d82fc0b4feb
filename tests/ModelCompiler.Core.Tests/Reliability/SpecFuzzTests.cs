using System.Text;
using ModelCompiler.Spec;

namespace ModelCompiler.Tests.Reliability;

/// <summary>
/// A seeded mutation fuzzer over spec YAML bytes (issue 8): bit flips, YAML-significant byte inserts, deletions,
/// truncations, splices between seeds and repeated regions. Every case must either parse or fail with an MC1xxx
/// <see cref="ModelCompilerException"/>; any other exception, or a case slower than <see cref="FuzzLoop.CaseTimeout"/>, fails.
/// The normal test run does <see cref="DefaultCases"/> cases; <c>bench/fuzz.sh N</c> sets MODELC_FUZZ_CASES and
/// MODELC_FUZZ_REPORT to run N and print the counts.
/// </summary>
public sealed class SpecFuzzTests
{
    private const int DefaultCases = 20_000;

    private static readonly string[] Seeds =
    [
        "target: cpu\ncalibration:\n  generated: { tokens: 512, seed: 7 }\n  max_tokens: 8192\nevaluation:\n  generated: {}\npolicy:\n  kind: almp\nfallback: fp32\ngates:\n  max_perplexity_increase_pct: 1.0\n  max_perplexity: 6.0\n  min_int8_fraction: 0.6\n",
        "target: cuda\ncalibration: { generated: {} }\npolicy: { kind: budget, max_perplexity_increase_pct: 2 }\nfallback: fp16\n",
        "# anchors and lists\ncalibration: &c\n  generated:\n    seed: 1\nevaluation: *c\npolicy:\n  kind: sensitivity\n  force_int8: ['layers.0.*', \"layers.1.*\"]\n  exclude:\n    - lm_head\n",
        "target: cpu\ncalibration:\n  text: calib.txt\n  max_tokens: 100\nproviders: [cpu]\ngates: { min_int8_fraction: 0.5 }\n",
        "%YAML 1.2\n---\ncalibration: { generated: { tokens: 64 } }\nfallback: >-\n  fp32\n...\n",
    ];

    private static readonly byte[] Significant = Encoding.ASCII.GetBytes("{}[]:,-?'\"&*!|>#%@` \t\n\r\\.~0123456789");

    [Fact]
    public void Mutated_specs_parse_or_fail_with_an_input_code()
    {
        using var dir = new TempFolder();
        File.WriteAllText(Path.Combine(dir.Path, "calib.txt"), "once upon a time");
        var seeds = Seeds.Select(Encoding.UTF8.GetBytes).ToArray();

        var (counts, summary) = FuzzLoop.Run("spec fuzz", FuzzLoop.Cases(DefaultCases), FuzzLoop.Seed(),
            (rng, _) => Mutate(rng, seeds), (bytes, i) => RunCase(bytes, dir.Path, i % 200 == 0), Convert.ToBase64String);

        // The mutations must reach both outcomes, or the fuzzer tests nothing.
        Assert.True(counts.GetValueOrDefault("ok") > 0 && counts.Keys.Any(k => k.StartsWith("MC1", StringComparison.Ordinal)), summary);
    }

    private static (string Key, string? Failure) RunCase(byte[] bytes, string dir, bool throughFile)
    {
        try
        {
            if (throughFile)
            {
                var path = Path.Combine(dir, "fuzz.yaml");
                File.WriteAllBytes(path, bytes);
                SpecLoader.Load(path);
                if (!File.ReadAllBytes(path).AsSpan().SequenceEqual(bytes)) return ("changed", "the spec file was modified");
            }
            else
            {
                SpecLoader.Parse(new UTF8Encoding(false, false).GetString(bytes), "fuzz.yaml", dir, checkFiles: false);
            }

            return ("ok", null);
        }
        catch (ModelCompilerException e) when (FuzzLoop.IsInputError(e))
        {
            return (e.Code, null);
        }
        catch (Exception e)
        {
            return ("unhandled", e.ToString());
        }
    }

    private static byte[] Mutate(Random rng, byte[][] seeds)
    {
        var data = new List<byte>(seeds[rng.Next(seeds.Length)]);
        var steps = 1 + rng.Next(rng.Next(4) == 0 ? 16 : 3);
        for (var k = 0; k < steps; k++)
        {
            var at = data.Count == 0 ? 0 : rng.Next(data.Count);
            switch (rng.Next(8))
            {
                case 0 when data.Count > 0:
                    data[at] ^= (byte)(1 << rng.Next(8));
                    break;
                case 1:
                    data.Insert(at, Significant[rng.Next(Significant.Length)]);
                    break;
                case 2 when data.Count > 0:
                    data.RemoveRange(at, Math.Min(data.Count - at, 1 + rng.Next(8)));
                    break;
                case 3:
                    data.RemoveRange(at, data.Count - at); // truncation
                    break;
                case 4:
                {
                    var other = seeds[rng.Next(seeds.Length)];
                    var from = rng.Next(other.Length);
                    data.InsertRange(at, other.Skip(from).Take(1 + rng.Next(other.Length - from)));
                    break;
                }
                case 5 when data.Count > 0:
                {
                    var len = Math.Min(data.Count - at, 1 + rng.Next(12));
                    var piece = data.GetRange(at, len);
                    var times = 1 + rng.Next(rng.Next(10) == 0 ? 200 : 4);
                    for (var t = 0; t < times; t++) data.InsertRange(at, piece);
                    break;
                }
                case 6:
                    data.Insert(at, (byte)rng.Next(256));
                    break;
                default:
                    if (data.Count > 0) data[at] = Significant[rng.Next(Significant.Length)];
                    break;
            }
        }

        return [.. data];
    }
}

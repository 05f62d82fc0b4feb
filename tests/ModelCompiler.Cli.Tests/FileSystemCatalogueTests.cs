using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using ModelCompiler.Tests;

namespace ModelCompiler.Cli.Tests;

/// <summary>
/// File-system bad inputs, one row each: the exit code, the MC code, every input byte-identical afterwards and
/// nothing at any output path (nor a hidden staging entry). Each case gets its own folder with copies of the model,
/// its tokenizer, the texts and the spec, so a regression destroys a copy, never the shared fixture.
/// </summary>
[Collection(ModelcCollection.Name)]
public sealed class FileSystemCatalogueTests(ModelcFixture f)
{
    private static readonly Regex Code = new(@": error (?<code>MC\d{4}): ", RegexOptions.Multiline);

    /// <summary>A case folder: model.onnx (+ model.tokenizer.bin beside it), calib.txt, eval.txt, spec.yaml.</summary>
    internal static string NewCase(ModelcFixture f, string name)
    {
        var dir = Directory.CreateDirectory(f.File("fs-" + name)).FullName;
        var text = File.ReadAllText(TestPaths.TinyStoriesValid);
        File.WriteAllText(Path.Combine(dir, "calib.txt"), text[..4000]);
        File.WriteAllText(Path.Combine(dir, "eval.txt"), text[4000..8000]);
        // The fixture's model names its tokenizer stories260K.tokenizer.bin beside it: keep that name.
        File.Copy(f.ModelPath, Path.Combine(dir, "stories260K.onnx"));
        File.Copy(Path.ChangeExtension(f.ModelPath, null) + ".tokenizer.bin", Path.Combine(dir, "stories260K.tokenizer.bin"));
        File.WriteAllText(Path.Combine(dir, "spec.yaml"), """
            calibration: { text: calib.txt, max_tokens: 512 }
            evaluation: { text: eval.txt, max_tokens: 512 }
            policy:
              kind: all-int8
            gates:
              max_perplexity_increase_pct: 50
            """);
        return dir;
    }

    internal static string[] CompileArgs(string dir, params string[] extra) =>
        ["compile", "--model", Path.Combine(dir, "stories260K.onnx"), "--spec", Path.Combine(dir, "spec.yaml"), .. extra];

    public sealed record Case(string Name, int Exit, string Code, Func<string, string[]> Setup, bool Import = false)
    {
        public override string ToString() => Name;
    }

    private static string P(string dir, string name) => Path.Combine(dir, name);

    private static void Fifo(string path)
    {
        using var p = Process.Start("mkfifo", [path]);
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }

    private static void Link(string link, string target) => File.CreateSymbolicLink(link, target);

    private static void HardLink(string link, string target)
    {
        using var p = Process.Start("ln", [target, link]);
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }

    private static string[] Import(string dir, params string[] args)
    {
        File.Copy(TestPaths.Checkpoint, P(dir, "ck.bin"), overwrite: true);
        File.Copy(TestPaths.Tokenizer, P(dir, "tok.bin"), overwrite: true);
        return ["import", "llama2c", .. args];
    }

    public static TheoryData<Case> Cases() =>
    [
        // Class 1: an output is an input (by identity, whatever the spelling).
        new("manifest-is-model", 2, "MC1007", d => CompileArgs(d, "--output", P(d, "out/q.onnx"), "--manifest", P(d, "stories260K.onnx"))),
        new("report-is-spec", 2, "MC1007", d => CompileArgs(d, "--output", P(d, "out/q.onnx"), "--report", P(d, "spec.yaml"))),
        new("output-is-calibration-text", 2, "MC1007", d => CompileArgs(d, "--output", P(d, "calib.txt"))),
        new("report-is-evaluation-text", 2, "MC1007", d => CompileArgs(d, "--output", P(d, "out/q.onnx"), "--report", P(d, "eval.txt"))),
        new("output-is-tokenizer", 2, "MC1007", d => CompileArgs(d, "--output", P(d, "stories260K.tokenizer.bin"))),
        new("output-is-model-other-spelling", 2, "MC1007", d => CompileArgs(d, "--output", d + "/out/../stories260K.onnx")),
        new("manifest-symlink-to-model", 2, "MC1007", d => { Link(P(d, "link.json"), P(d, "stories260K.onnx")); return CompileArgs(d, "--output", P(d, "out/q.onnx"), "--manifest", P(d, "link.json")); }),
        new("output-hardlink-to-spec", 2, "MC1007", d => { HardLink(P(d, "hard.onnx"), P(d, "spec.yaml")); return CompileArgs(d, "--output", P(d, "hard.onnx")); }),
        new("output-via-symlinked-folder-to-model", 2, "MC1007", d => { Directory.CreateSymbolicLink(P(d, "alias"), d); return CompileArgs(d, "--output", P(d, "alias/stories260K.onnx")); }),
        new("deps-is-model", 2, "MC1007", d => CompileArgs(d, "--output", P(d, "out/q.onnx"), "--deps", P(d, "stories260K.onnx"))),
        new("layer-plot-is-calibration-text", 2, "MC1007", d =>
        {
            File.Move(P(d, "calib.txt"), P(d, "r.layers.svg"));
            File.WriteAllText(P(d, "spec.yaml"), File.ReadAllText(P(d, "spec.yaml")).Replace("calib.txt", "r.layers.svg"));
            return CompileArgs(d, "--output", P(d, "out/q.onnx"), "--report", P(d, "r.md"));
        }),
        new("tokenizer-copy-is-spec-tokenizer", 2, "MC1007", d =>
        {
            File.Copy(P(d, "stories260K.tokenizer.bin"), P(d, "q.tokenizer.bin"));
            File.WriteAllText(P(d, "spec.yaml"), File.ReadAllText(P(d, "spec.yaml")).Replace("max_tokens: 512 }\nevaluation", "max_tokens: 512, tokenizer: q.tokenizer.bin }\nevaluation"));
            return CompileArgs(d, "--output", P(d, "q.onnx"));
        }),
        // Two outputs on one file.
        new("manifest-is-output", 2, "MC1007", d => CompileArgs(d, "--output", P(d, "out/q.onnx"), "--manifest", P(d, "out/q.onnx"))),
        new("report-is-manifest", 2, "MC1007", d => CompileArgs(d, "--output", P(d, "out/q.onnx"), "--manifest", P(d, "out/m.json"), "--report", d + "/out/./m.json")),
        // Empty output paths.
        new("output-empty", 2, "MC1071", d => CompileArgs(d, "--output", "")),
        new("manifest-empty", 2, "MC1071", d => CompileArgs(d, "--output", P(d, "out/q.onnx"), "--manifest", "")),
        new("report-blank", 2, "MC1071", d => CompileArgs(d, "--output", P(d, "out/q.onnx"), "--report", "  ")),
        // Outputs that cannot be written: found before anything is written.
        new("output-is-directory", 2, "MC1072", d => { Directory.CreateDirectory(P(d, "outdir")); return CompileArgs(d, "--output", P(d, "outdir")); }),
        new("report-is-directory", 2, "MC1072", d => { Directory.CreateDirectory(P(d, "rep")); return CompileArgs(d, "--output", P(d, "out/q.onnx"), "--report", P(d, "rep")); }),
        new("report-under-a-file", 2, "MC1072", d => CompileArgs(d, "--output", P(d, "out/q.onnx"), "--report", P(d, "calib.txt") + "/r.md")),
        // Inputs that are not regular files: refused up front, no hang.
        new("spec-is-fifo", 2, "MC1070", d => { Fifo(P(d, "fifo.yaml")); return ["compile", "--model", P(d, "stories260K.onnx"), "--spec", P(d, "fifo.yaml"), "--output", P(d, "out/q.onnx")]; }),
        new("model-is-fifo", 2, "MC1070", d => { Fifo(P(d, "fifo.onnx")); return ["compile", "--model", P(d, "fifo.onnx"), "--spec", P(d, "spec.yaml"), "--output", P(d, "out/q.onnx")]; }),
        new("spec-is-dev-zero", 2, "MC1070", d => ["compile", "--model", P(d, "stories260K.onnx"), "--spec", "/dev/zero", "--output", P(d, "out/q.onnx")]),
        new("model-is-dev-null", 2, "MC1070", d => ["compile", "--model", "/dev/null", "--spec", P(d, "spec.yaml"), "--output", P(d, "out/q.onnx")]),
        new("spec-is-directory", 2, "MC1070", d => { Directory.CreateDirectory(P(d, "specdir")); return ["compile", "--model", P(d, "stories260K.onnx"), "--spec", P(d, "specdir"), "--output", P(d, "out/q.onnx")]; }),
        new("model-is-directory", 2, "MC1070", d => { Directory.CreateDirectory(P(d, "modeldir")); return ["compile", "--model", P(d, "modeldir"), "--spec", P(d, "spec.yaml"), "--output", P(d, "out/q.onnx")]; }),
        new("calibration-text-is-fifo", 2, "MC1070", d => { File.Delete(P(d, "calib.txt")); Fifo(P(d, "calib.txt")); return CompileArgs(d, "--output", P(d, "out/q.onnx")); }),
        new("tokenizer-beside-model-is-fifo", 2, "MC1070", d => { File.Delete(P(d, "stories260K.tokenizer.bin")); Fifo(P(d, "stories260K.tokenizer.bin")); return CompileArgs(d, "--output", P(d, "out/q.onnx")); }),
        // import: the checkpoint and tokenizer are inputs.
        new("import-output-is-checkpoint", 2, "MC1007", d => Import(d, P(d, "ck.bin"), "--output", P(d, "ck.bin")), true),
        new("import-output-is-tokenizer", 2, "MC1007", d => Import(d, P(d, "ck.bin"), "--tokenizer", P(d, "tok.bin"), "--output", P(d, "tok.bin")), true),
        new("import-tokenizer-copy-is-tokenizer", 2, "MC1007", d =>
        {
            var args = Import(d, P(d, "ck.bin"));
            File.Move(P(d, "tok.bin"), P(d, "m.tokenizer.bin"));
            return [.. args, "--tokenizer", P(d, "m.tokenizer.bin"), "--output", P(d, "m.onnx")];
        }, true),
        new("import-data-file-is-checkpoint", 2, "MC1007", d =>
        {
            Import(d);
            File.Move(P(d, "ck.bin"), P(d, "m.onnx.data"));
            return ["import", "llama2c", P(d, "m.onnx.data"), "--output", P(d, "m.onnx"), "--external-data"];
        }, true),
        new("import-output-symlink-to-checkpoint", 2, "MC1007", d => { var a = Import(d, P(d, "ck.bin")); Link(P(d, "ln.onnx"), P(d, "ck.bin")); return [.. a, "--output", P(d, "ln.onnx")]; }, true),
        new("import-output-empty", 2, "MC1071", d => Import(d, P(d, "ck.bin"), "--output", ""), true),
        new("import-checkpoint-is-fifo", 2, "MC1070", d => { Fifo(P(d, "fifo.bin")); return ["import", "llama2c", P(d, "fifo.bin"), "--output", P(d, "m.onnx")]; }, true),
        new("import-tokenizer-is-fifo", 2, "MC1070", d => { var a = Import(d, P(d, "ck.bin")); Fifo(P(d, "fifo.bin")); return [.. a, "--tokenizer", P(d, "fifo.bin"), "--output", P(d, "m.onnx")]; }, true),
        new("import-checkpoint-is-directory", 2, "MC1070", d => ["import", "llama2c", d, "--output", P(d, "m.onnx")], true),
        new("import-output-is-directory", 2, "MC1072", d => { var a = Import(d, P(d, "ck.bin")); Directory.CreateDirectory(P(d, "m.onnx")); return [.. a, "--output", P(d, "m.onnx")]; }, true),
    ];

    [Theory]
    [MemberData(nameof(Cases))]
    public void BadFileSystemInput_Exit2_InputsUntouched_NothingWritten(Case c)
    {
        var dir = c.Import ? Directory.CreateDirectory(f.File("fs-" + c.Name)).FullName : NewCase(f, c.Name);
        var args = c.Setup(dir);
        var before = Snapshot(dir);
        var r = Modelc.Run(args);
        Assert.True(r.ExitCode == c.Exit, $"{c.Name}: expected exit {c.Exit}\n{r}");
        var codes = Code.Matches(r.StdErr).Select(m => m.Groups["code"].Value).ToList();
        Assert.True(codes.SequenceEqual([c.Code]), $"{c.Name}: expected one {c.Code}\n{r}");
        Assert.DoesNotContain("   at ", r.StdErr);
        Assert.Equal(before, Snapshot(dir)); // inputs byte-identical, and no file added anywhere under the case
    }

    /// <summary>Every entry under the folder (symlinks as links, FIFOs by name) with the hash of each regular file.</summary>
    internal static string Snapshot(string dir)
    {
        var lines = new List<string>();
        foreach (var entry in Directory.EnumerateFileSystemEntries(dir, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }).Order(StringComparer.Ordinal))
        {
            var info = new FileInfo(entry);
            var rel = Path.GetRelativePath(dir, entry);
            if (info.LinkTarget is not null) lines.Add($"{rel} -> {info.LinkTarget}");
            else if (Directory.Exists(entry)) lines.Add(rel + "/");
            else if (Onnx.FileNode.Stat(entry).Kind != Onnx.FileKind.Regular) lines.Add(rel + " (special)");
            else lines.Add($"{rel} {Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(entry)))}");
        }
        return string.Join("\n", lines);
    }

    internal static string Sha256(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    /// <summary>The manifest's model sha256, or null when there is no manifest.</summary>
    internal static string? ManifestSha(string manifest)
    {
        if (!File.Exists(manifest)) return null;
        using var doc = JsonDocument.Parse(File.ReadAllText(manifest));
        return doc.RootElement.GetProperty("model").GetProperty("sha256").GetString();
    }

    [Fact]
    public void LateDestinationError_KeepsThePreviousSet_AndAStaleStagingIsRemoved()
    {
        var dir = NewCase(f, "late-error");
        var output = P(dir, "out/q.onnx");
        var ok = Modelc.Run(CompileArgs(dir, "--output", output));
        Assert.True(ok.ExitCode == 0, ok.ToString());
        Assert.Equal(Sha256(output), ManifestSha(P(dir, "out/q.manifest.json")));
        var previous = Snapshot(P(dir, "out"));

        // The report's folder is a file: found before anything is written, the previous set stays whole.
        var bad = Modelc.Run(CompileArgs(dir, "--output", output, "--report", P(dir, "calib.txt") + "/r.md"));
        Assert.True(bad.ExitCode == 2 && bad.StdErr.Contains("MC1072", StringComparison.Ordinal), bad.ToString());
        Assert.Equal(previous, Snapshot(P(dir, "out")));

        // A staging folder of a process that cannot exist (above pid_max: a killed run) is removed by the next run.
        var stale = Directory.CreateDirectory(P(dir, "out/.modelc-4194399-deadbeef-q.onnx")).FullName;
        File.WriteAllText(Path.Combine(stale, "q.onnx"), "half");
        File.WriteAllText(P(dir, "out/.modelc-4194399-deadbeef-q.manifest.json.old"), "{}");
        var again = Modelc.Run(CompileArgs(dir, "--output", output));
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal(previous, Snapshot(P(dir, "out")));
    }
}

using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace ModelCompiler.Integration.Tests;

/// <summary>
/// One consumer project through its life: first build, no-op build, a changed spec, a changed text, publish,
/// a missed gate, gates as warnings, clean. The steps run in order and build on each other's state.
/// </summary>
[Collection(PackagedConsumerCollection.Name)]
[Trait("Category", "Integration")]
[TestCaseOrderer(StepOrderer.TypeName, StepOrderer.AssemblyName)]
public sealed class BuildLifecycleTests(PackagedConsumer consumer, ITestOutputHelper output)
{
    private const string Story = "stories260K";
    private const string Tiny = "tiny-story";

    /// <summary>In the command line the task logs whenever it runs modelc (paths may be quoted around it).</summary>
    private const string ModelcCompile = " compile --model ";

    /// <summary>How many times the build ran modelc compile for <paramref name="stem"/> (its logged command lines).</summary>
    private int CompileRuns(CommandResult build, string stem)
    {
        var model = Path.Combine(consumer.Dir, "models", stem + ".onnx");
        var quoted = !model.Contains(' ') ? model : OperatingSystem.IsWindows() ? $"\"{model}\"" : $"'{model}'";
        return build.Output.Split('\n').Count(l => l.Contains(ModelcCompile + quoted + " ", StringComparison.Ordinal));
    }

    private CommandResult Log(CommandResult result)
    {
        output.WriteLine($"{result.Command}: exit {result.ExitCode} in {result.Elapsed.TotalSeconds:F1} s");
        return result;
    }

    private static DateTime Written(string path) => File.GetLastWriteTimeUtc(path);

    private (int Line, int Column, string Code)[] GateErrors(CommandResult build, string stem, string severity) =>
        Regex.Matches(build.Output, Regex.Escape(consumer.Spec(stem)) + $@"\((\d+),(\d+)\): {severity} (MC2\d{{3}}):")
            .Select(m => (int.Parse(m.Groups[1].Value), int.Parse(m.Groups[2].Value), m.Groups[3].Value))
            .Distinct()
            .ToArray();

    private int LineOf(string stem, string text) => Array.FindIndex(File.ReadAllLines(consumer.Spec(stem)), l => l.Contains(text)) + 1;

    [Fact, Step(1)]
    public void First_build_quantizes_each_model_copies_it_and_hands_its_manifest_to_the_generator()
    {
        output.WriteLine($"pack: {consumer.Pack.Elapsed.TotalSeconds:F1} s");
        var build = Log(consumer.FirstBuild);

        Assert.True(build.Succeeded, build.ToString());
        foreach (var (stem, className) in new[] { (Story, "StoryModel"), (Tiny, "TinyStory") })
        {
            Assert.Equal(1, CompileRuns(build, stem));
            Assert.True(File.Exists(consumer.QuantizedModel(stem)), stem);
            Assert.True(File.Exists(consumer.Manifest(stem)), stem);
            Assert.True(File.Exists(consumer.Stamp(stem)), stem);
            Assert.Contains($"ModelCompiler: {className} report: {consumer.Report(stem)}", build.Output);
            Assert.True(File.Exists(consumer.CopiedModel(stem)), stem);
            Assert.True(File.Exists(Path.Combine(consumer.OutputDir, "models", stem + ".q.tokenizer.bin")), stem);

            var editorConfig = File.ReadAllText(consumer.EditorConfig);
            Assert.Contains($"[{consumer.Manifest(stem)}]", editorConfig);
            Assert.Contains($"build_metadata.AdditionalFiles.ModelCompilerClassName = {className}", editorConfig);
            Assert.Contains($"build_metadata.AdditionalFiles.ModelCompilerModelPath = models/{stem}.q.onnx", editorConfig);
        }

        // The program compiles only with both generated wrappers, and finds the model copied beside it.
        var run = Log(consumer.RunApp());
        Assert.True(run.Succeeded, run.ToString());
        var lines = run.Output.Trim().Split('\n');
        Assert.Equal("Demo.StoryModel Demo.TinyStory True", lines[0].Trim());
        // Greedy decoding of the quantized model from BOS: " Once", " upon", " a", " time" (ids of tok512.bin), 20 ids in all.
        var ids = lines[1].Trim().Split(' ');
        Assert.Equal(20, ids.Length);
        Assert.Equal(["403", "407", "261", "378"], ids[..4]);
        // await foreach over GenerateAsync (greedy by default) streams the same ids; cancelling after 5 stops it there.
        Assert.Equal(lines[1].Trim(), lines[2].Trim());
        Assert.Equal("5 cancelled", lines[3].Trim());
        // GenerateAsync(string) streams the text of those ids: from BOS, "Once upon a time" (llama2.c drops the first space).
        Assert.StartsWith("Once upon a time", lines[4]);
        Assert.Equal(lines[5], lines[4]);
        Assert.Equal("403 407 261 378", lines[6].Trim());
    }

    [Fact, Step(2)]
    public void Build_without_changes_does_not_run_modelc()
    {
        Assert.True(consumer.FirstBuild.Succeeded, consumer.FirstBuild.ToString());
        string[] watched = [.. PackagedConsumer.Stems.SelectMany(s => new[] { consumer.QuantizedModel(s), consumer.Manifest(s), consumer.Stamp(s), consumer.CopiedModel(s) })];
        var before = watched.Select(Written).ToArray();

        var build = Log(consumer.Build());

        Assert.True(build.Succeeded, build.ToString());
        Assert.DoesNotContain(ModelcCompile, build.Output);
        Assert.Equal(before, watched.Select(Written).ToArray());
        Assert.All(watched, f => Assert.True(File.Exists(f), f));
    }

    [Fact, Step(3)]
    public void Changing_a_spec_runs_modelc_again_for_that_model_only()
    {
        var tinyBefore = Written(consumer.QuantizedModel(Tiny));
        var storyBefore = Written(consumer.Manifest(Story));
        consumer.WriteSpec(Story, "max_perplexity_increase_pct: 2.5");

        var build = Log(consumer.Build());

        Assert.True(build.Succeeded, build.ToString());
        Assert.Equal(1, CompileRuns(build, Story));
        Assert.Equal(0, CompileRuns(build, Tiny));
        Assert.True(Written(consumer.Manifest(Story)) > storyBefore);
        Assert.Equal(tinyBefore, Written(consumer.QuantizedModel(Tiny)));
    }

    [Fact, Step(4)]
    public void Changing_a_text_modelc_read_runs_modelc_again_for_that_model_only()
    {
        // Known only from modelc's dependency file of the last run: the spec names it, the project does not.
        File.SetLastWriteTimeUtc(consumer.EvaluationText(Tiny), DateTime.UtcNow);

        var build = Log(consumer.Build());

        Assert.True(build.Succeeded, build.ToString());
        Assert.Equal(1, CompileRuns(build, Tiny));
        Assert.Equal(0, CompileRuns(build, Story));
    }

    [Fact, Step(5)]
    public void A_plain_build_prints_one_summary_line_per_model_and_appends_the_report_to_the_summary_file()
    {
        File.SetLastWriteTimeUtc(consumer.EvaluationText(Tiny), DateTime.UtcNow);
        var summaryFile = Path.Combine(consumer.Root, "step summary", "summary.md");

        // Default verbosity, as a developer types it (the summary must not need -v:n).
        var build = Log(DotNetCli.Run(consumer.Dir, ["build", "-nodeReuse:false", $"-p:ModelCompiler_SummaryFile={summaryFile}"], TimeSpan.FromMinutes(5)));

        Assert.True(build.Succeeded, build.ToString());
        // The expected line from the manifest modelc wrote, read here with System.Text.Json.
        using var manifest = System.Text.Json.JsonDocument.Parse(File.ReadAllText(consumer.Manifest(Tiny)));
        var metrics = manifest.RootElement.GetProperty("metrics");
        var increase = metrics.GetProperty("perplexity_increase_pct").GetDouble();
        var report = Path.Combine("obj", "Debug", "net10.0", "modelcompiler", Tiny, Tiny + ".report.md");
        var expected = string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"ModelCompiler: {Tiny}.onnx → INT8 {metrics.GetProperty("int8_layers").GetInt32()}/{metrics.GetProperty("layers").GetInt32()} layers, perplexity {(increase < 0 ? "-" : "+")}{Math.Abs(increase):0.00}% (gate 2%), report {report}");
        var lines = build.Output.Split('\n').Select(l => l.Trim()).ToList();
        Assert.Single(lines, l => l == expected);
        Assert.DoesNotContain(lines, l => l.StartsWith($"ModelCompiler: {Story}.onnx", StringComparison.Ordinal)); // up to date: modelc did not run

        Assert.Equal(File.ReadAllText(consumer.Report(Tiny)).TrimEnd() + "\n\n", File.ReadAllText(summaryFile));
    }

    [Fact, Step(6)]
    public void Publish_without_building_carries_the_quantized_model_and_its_tokenizer()
    {
        var publishDir = Path.Combine(consumer.Root, "publish");

        var publish = Log(consumer.Publish(publishDir));

        Assert.True(publish.Succeeded, publish.ToString());
        Assert.DoesNotContain(ModelcCompile, publish.Output);
        foreach (var stem in PackagedConsumer.Stems)
        {
            Assert.True(File.Exists(Path.Combine(publishDir, "models", stem + ".q.onnx")), stem);
            Assert.True(File.Exists(Path.Combine(publishDir, "models", stem + ".q.tokenizer.bin")), stem);
        }
    }

    [Fact, Step(7)]
    public void A_missed_gate_fails_the_build_at_the_gate_in_the_spec_until_it_is_fixed()
    {
        consumer.WriteSpec(Story, "max_perplexity: 1.0");
        var gateLine = LineOf(Story, "max_perplexity: 1.0");

        var build = Log(consumer.Build());

        Assert.False(build.Succeeded, build.ToString());
        var error = Assert.Single(GateErrors(build, Story, "error"));
        Assert.Equal(gateLine, error.Line);
        Assert.Contains($"ModelCompiler: StoryModel report: {consumer.Report(Story)}", build.Output);

        // A failed run is never up to date: the next build runs modelc and fails again.
        var again = Log(consumer.Build());
        Assert.False(again.Succeeded, again.ToString());
        Assert.Equal(1, CompileRuns(again, Story));
        Assert.Equal(error, Assert.Single(GateErrors(again, Story, "error")));
    }

    [Fact, Step(8)]
    public void Gates_as_warnings_reports_the_missed_gate_and_builds()
    {
        consumer.WriteSpec(Story, "max_perplexity: 1.0");
        var gateLine = LineOf(Story, "max_perplexity: 1.0");

        var build = Log(consumer.Build("-p:ModelCompiler_GatesAsWarnings=true"));

        Assert.True(build.Succeeded, build.ToString());
        Assert.Empty(GateErrors(build, Story, "error"));
        Assert.Equal(gateLine, Assert.Single(GateErrors(build, Story, "warning")).Line);
        Assert.True(File.Exists(consumer.CopiedModel(Story)));
    }

    [Fact, Step(9)]
    public void Clean_removes_what_modelc_wrote_and_the_copies()
    {
        Assert.True(File.Exists(consumer.QuantizedModel(Story)));

        var clean = Log(consumer.Clean());

        Assert.True(clean.Succeeded, clean.ToString());
        foreach (var stem in PackagedConsumer.Stems)
        {
            Assert.False(Directory.Exists(consumer.ItemDir(stem)), consumer.ItemDir(stem));
            Assert.False(File.Exists(consumer.CopiedModel(stem)), consumer.CopiedModel(stem));
        }

        // The models and specs are the developer's: clean leaves them.
        Assert.True(File.Exists(Path.Combine(consumer.Dir, "models", Story + ".onnx")));
        Assert.True(File.Exists(consumer.Spec(Story)));
    }
}

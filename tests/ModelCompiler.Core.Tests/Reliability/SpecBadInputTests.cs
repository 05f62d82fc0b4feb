using System.Text;
using ModelCompiler.Spec;

namespace ModelCompiler.Tests.Reliability;

/// <summary>
/// The spec half of the bad-input catalogue (issue 8): each case is a spec file on disk that must fail with one
/// MC1xxx code (exit 2 in the CLI), leave the file byte-identical, and create nothing beside it.
/// </summary>
public sealed class SpecBadInputTests
{
    private const string Cal = "calibration: { generated: {} }\n";

    public static TheoryData<string, string, string> Cases() => new()
    {
        // YAML syntax: every parser failure is MC1101 with a position.
        { "unclosed flow mapping", "a: {b: 1\n", SpecCodes.YamlSyntax },
        { "unclosed flow sequence", "a: [1, 2\n", SpecCodes.YamlSyntax },
        { "unclosed nested flow", "a: {b: [1, {c: 2}\n", SpecCodes.YamlSyntax },
        { "unclosed double quote", "target: \"cpu\n", SpecCodes.YamlSyntax },
        { "unclosed single quote", "target: 'cpu\n", SpecCodes.YamlSyntax },
        { "tab indentation", "calibration:\n\tgenerated: {}\n", SpecCodes.YamlSyntax },
        { "bad indentation", "calibration:\n  generated: {}\n bad: 1\n", SpecCodes.YamlSyntax },
        { "undefined alias", Cal + "target: *nope\n", SpecCodes.YamlSyntax },
        { "stray closing brace in plain value", "target: cpu }\n", SpecCodes.UnknownValue },
        { "stray closing bracket", "]\n", SpecCodes.YamlSyntax },
        { "mapping in sequence flow", "a: [b: c: d]\n", SpecCodes.YamlSyntax },
        { "bad escape", "target: \"\\q\"\n", SpecCodes.YamlSyntax },
        { "unknown directive block", "%FOO bar\n---\na: 1\n...\n%YAML 1.1\n%YAML 1.1\n---\n", SpecCodes.YamlSyntax },
        { "duplicate yaml directive", "%YAML 1.1\n%YAML 1.1\n---\na: 1\n", SpecCodes.YamlSyntax },
        { "anchor without node", "a: &x\n  - 1\n b: 2\n", SpecCodes.YamlSyntax },
        { "question key unclosed", "? [a\n: b\n", SpecCodes.YamlSyntax },
        { "block scalar bad indicator", "a: |x\n  text\n", SpecCodes.YamlSyntax },
        { "control character in value", "target: cpu\u0001\n", SpecCodes.UnknownValue },
        { "colon-only flow", "{:\n", SpecCodes.YamlSyntax },
        { "nul byte", "target: c\0pu\n", SpecCodes.YamlSyntax },
        // Depth: refused before anything recurses.
        { "20000 nested flow lists", new string('[', 20000), SpecCodes.YamlTooDeep },
        { "20000 nested flow mappings", string.Concat(Enumerable.Repeat("{a: ", 20000)), SpecCodes.YamlTooDeep },
        { "200 nested closed lists", new string('[', 200) + new string(']', 200) + "\n", SpecCodes.YamlTooDeep },
        { "deep block mappings", string.Concat(Enumerable.Range(0, 100).Select(i => new string(' ', i) + "k:\n")) + new string(' ', 100) + "v: 1\n", SpecCodes.YamlTooDeep },
        { "deep block sequences", string.Concat(Enumerable.Range(0, 100).Select(i => new string(' ', i * 2) + "-\n")) + new string(' ', 200) + "- 1\n", SpecCodes.YamlTooDeep },
        // Structure and values.
        { "two documents", Cal + "---\n" + Cal, SpecCodes.MultipleDocuments },
        { "top-level list", "- a\n- b\n", SpecCodes.TopLevelNotMapping },
        { "top-level scalar", "hello\n", SpecCodes.TopLevelNotMapping },
        { "empty", "", SpecCodes.EmptySpec },
        { "only a comment", "# nothing\n", SpecCodes.EmptySpec },
        { "unknown key", Cal + "polcy: {}\n", SpecCodes.UnknownKey },
        { "duplicate key", Cal + "target: cpu\ntarget: cuda\n", SpecCodes.DuplicateKey },
        { "mapping as key", Cal + "{a: 1}: 2\n", SpecCodes.WrongType },
        { "target a list", Cal + "target: [cpu]\n", SpecCodes.WrongType },
        { "unknown target", Cal + "target: tpu\n", SpecCodes.UnknownValue },
        { "no calibration", "target: cpu\n", SpecCodes.MissingSection },
        { "text and generated", "calibration: { text: a.txt, generated: {} }\n", SpecCodes.BothTextAndGenerated },
        { "max_tokens negative", "calibration: { generated: {}, max_tokens: -5 }\n", SpecCodes.OutOfRange },
        { "max_tokens nan", "calibration: { generated: {}, max_tokens: .nan }\n", SpecCodes.WrongType },
        { "gate nan", Cal + "gates: { max_perplexity: .nan }\n", SpecCodes.OutOfRange },
        { "gate infinite", Cal + "gates: { max_perplexity_increase_pct: .inf }\n", SpecCodes.OutOfRange },
        { "gate huge number", Cal + "gates: { max_perplexity: 1e999999 }\n", SpecCodes.OutOfRange },
        { "max_tokens overflow", "calibration: { generated: {}, max_tokens: 99999999999999999999 }\n", SpecCodes.WrongType },
        { "calibration text missing", "calibration: { text: no-such-file.txt }\n", SpecCodes.ReferencedFileNotFound },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Bad_spec_is_a_coded_input_error_and_touches_nothing(string name, string yaml, string code)
    {
        using var dir = new TempFolder();
        var path = Path.Combine(dir.Path, "spec.yaml");
        var bytes = new UTF8Encoding(false).GetBytes(yaml);
        File.WriteAllBytes(path, bytes);

        var error = Assert.Throws<ModelCompilerException>(() => SpecLoader.Load(path));

        Assert.True(error.Code.StartsWith("MC1", StringComparison.Ordinal), $"{name}: {error.ToDiagnosticString()}");
        Assert.True(code == error.Code, $"{name}: expected {code}, got {error.ToDiagnosticString()}");
        Assert.Equal(path, error.File);
        Assert.Equal(bytes, File.ReadAllBytes(path));
        Assert.Equal(["spec.yaml"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void Syntax_errors_carry_a_line_and_column()
    {
        var error = Assert.Throws<ModelCompilerException>(() => SpecLoader.Parse("target: cpu\na: {b: 1\n", "s.yaml", Path.GetTempPath()));
        Assert.Equal(SpecCodes.YamlSyntax, error.Code);
        Assert.True(error.Line >= 2, error.ToDiagnosticString());
        Assert.True(error.Column >= 1, error.ToDiagnosticString());
    }

    [Fact]
    public void An_endless_device_is_refused_after_a_bounded_read()
    {
        if (!File.Exists("/dev/zero")) return;
        var error = Assert.Throws<ModelCompilerException>(() => SpecLoader.Load("/dev/zero"));
        Assert.Equal(SpecCodes.SpecTooLarge, error.Code);
    }

    [Fact]
    public void A_file_just_over_the_limit_is_refused_and_one_at_the_limit_is_read()
    {
        using var dir = new TempFolder();
        var over = Path.Combine(dir.Path, "over.yaml");
        File.WriteAllBytes(over, Encoding.ASCII.GetBytes("# " + new string('x', SpecLoader.MaxSpecBytes)));
        Assert.Equal(SpecCodes.SpecTooLarge, Assert.Throws<ModelCompilerException>(() => SpecLoader.Load(over)).Code);

        var at = Path.Combine(dir.Path, "at.yaml");
        var head = Encoding.ASCII.GetBytes(Cal + "# ");
        File.WriteAllBytes(at, [.. head, .. Encoding.ASCII.GetBytes(new string('x', SpecLoader.MaxSpecBytes - head.Length))]);
        Assert.NotNull(SpecLoader.Load(at).Spec);
    }

    [Fact]
    public void Sixty_four_levels_are_still_read()
    {
        // The limit refuses depth, not ordinary nesting: a value 60 lists deep parses to the key's type error.
        var yaml = Cal + "target: " + new string('[', 60) + new string(']', 60) + "\n";
        var error = Assert.Throws<ModelCompilerException>(() => SpecLoader.Parse(yaml, "s.yaml", Path.GetTempPath(), checkFiles: false));
        Assert.Equal(SpecCodes.WrongType, error.Code);
    }
}

/// <summary>A temporary folder removed on dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "mc-bad-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

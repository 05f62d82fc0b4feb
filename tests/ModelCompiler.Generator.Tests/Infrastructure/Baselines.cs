using ModelCompiler.Tests;

namespace ModelCompiler.Generator.Tests.Infrastructure;

/// <summary>
/// Exact-text baselines of generated files under Baselines/, one per hint name.
/// Run the tests with MODELCOMPILER_UPDATE_BASELINES=1 to rewrite them in the source tree, then review the diff.
/// </summary>
internal static class Baselines
{
    public const string UpdateVariable = "MODELCOMPILER_UPDATE_BASELINES";

    public static bool Updating => Environment.GetEnvironmentVariable(UpdateVariable) == "1";

    public static void AssertMatches(string hintName, string actual)
    {
        if (Updating)
        {
            string target = Path.Combine(TestPaths.RepoRoot, "tests", "ModelCompiler.Generator.Tests", "Baselines", hintName);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.WriteAllText(target, actual);
            return;
        }

        string path = Path.Combine(AppContext.BaseDirectory, "Baselines", hintName);
        Assert.True(File.Exists(path), $"There is no baseline for {hintName}. Run the tests with {UpdateVariable}=1 to create it.");

        // A checkout may turn '\n' into "\r\n"; the generator always writes '\n'.
        string expected = File.ReadAllText(path).Replace("\r\n", "\n", StringComparison.Ordinal);
        if (expected == actual)
        {
            return;
        }

        var expectedLines = expected.Split('\n');
        var actualLines = actual.Split('\n');
        int line = 0;
        while (line < expectedLines.Length && line < actualLines.Length && expectedLines[line] == actualLines[line])
        {
            line++;
        }

        Assert.Fail(
            $"{hintName} differs from its baseline at line {line + 1}:{Environment.NewLine}" +
            $"  expected: {(line < expectedLines.Length ? expectedLines[line] : "<end of file>")}{Environment.NewLine}" +
            $"  actual:   {(line < actualLines.Length ? actualLines[line] : "<end of file>")}{Environment.NewLine}" +
            $"Run the tests with {UpdateVariable}=1 to accept the new output.");
    }
}

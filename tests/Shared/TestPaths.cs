using System.Reflection;

namespace ModelCompiler.Tests;

/// <summary>Where the repository and the shared test data (../shared) are, fixed at build time.</summary>
internal static class TestPaths
{
    public static string RepoRoot { get; } = Path.GetFullPath(
        typeof(TestPaths).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .First(a => a.Key == "RepoRoot").Value!);

    public static string Shared { get; } = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));

    public static string Checkpoint => Path.Combine(Shared, "models", "stories260K", "stories260K.bin");
    public static string Tokenizer => Path.Combine(Shared, "models", "stories260K", "tok512.bin");
    public static string TinyStoriesSample => Path.Combine(Shared, "corpora", "tinystories_sample.txt");
    public static string TinyStoriesValid => Path.Combine(Shared, "corpora", "tinystories_valid_excerpt.txt");
    public static string MobyDick => Path.Combine(Shared, "corpora", "moby-dick.txt");

    /// <summary>A fresh empty folder under the system temp folder, removed by the caller or the OS.</summary>
    public static string NewTempDir(string prefix = "mc")
    {
        var dir = Path.Combine(Path.GetTempPath(), prefix + "-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        return dir;
    }
}

using Microsoft.CodeAnalysis.Diagnostics;

namespace ModelCompiler.Generator.Parsing
{
    /// <summary>The MSBuild item metadata of one AdditionalFiles item, plus the project's RootNamespace.</summary>
    internal sealed record ManifestOptions(
        bool IsManifest,
        string? ClassName,
        string? Namespace,
        string? Access,
        string? ModelPath,
        string? RootNamespace)
    {
        private const string MetadataPrefix = "build_metadata.AdditionalFiles.";

        public static ManifestOptions Read(AnalyzerConfigOptions fileOptions, AnalyzerConfigOptions globalOptions)
        {
            string? isManifest = Get(fileOptions, MetadataPrefix + "ModelCompilerManifest");
            return new ManifestOptions(
                IsManifest: string.Equals(isManifest, "true", System.StringComparison.OrdinalIgnoreCase),
                ClassName: Get(fileOptions, MetadataPrefix + "ModelCompilerClassName"),
                Namespace: Get(fileOptions, MetadataPrefix + "ModelCompilerNamespace"),
                Access: Get(fileOptions, MetadataPrefix + "ModelCompilerAccess"),
                ModelPath: Get(fileOptions, MetadataPrefix + "ModelCompilerModelPath"),
                RootNamespace: Get(globalOptions, "build_property.RootNamespace"));
        }

        // MSBuild cannot tell an empty metadata value from a missing one, so neither can we.
        private static string? Get(AnalyzerConfigOptions options, string key)
            => options.TryGetValue(key, out var value) && !string.IsNullOrWhiteSpace(value) ? value.Trim() : null;
    }
}

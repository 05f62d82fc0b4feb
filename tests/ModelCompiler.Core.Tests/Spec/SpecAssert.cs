using ModelCompiler.Spec;

namespace ModelCompiler.Tests.Spec;

/// <summary>Parsing helpers: specs read as "spec.yaml" in a folder that need not exist unless files are checked.</summary>
internal static class SpecAssert
{
    public const string FileName = "spec.yaml";

    /// <summary>A calibration section that needs no files.</summary>
    public const string GeneratedCalibration = "calibration: { generated: {} }\n";

    public static string NoFilesDir { get; } = Path.Combine(Path.GetTempPath(), "mc-spec-nofiles");

    public static SpecLoadResult Parse(string yaml, string? baseDirectory = null, bool checkFiles = false) =>
        SpecLoader.Parse(yaml, FileName, baseDirectory ?? NoFilesDir, checkFiles);

    public static ModelCompilerException Fails(string yaml, string? baseDirectory = null, bool checkFiles = false) =>
        Assert.Throws<ModelCompilerException>(() => Parse(yaml, baseDirectory, checkFiles));

    public static void At(ModelCompilerException error, string code, int line, int column, string? file = FileName)
    {
        Assert.True(
            error.Code == code && error.Line == line && error.Column == column && error.File == file,
            $"expected {file}({line},{column}) {code}, got: {error.ToDiagnosticString()}");
    }

    public static void At(SpecLocation location, int line, int column)
    {
        Assert.Equal(FileName, location.File);
        Assert.Equal((line, column), (location.Line, location.Column));
    }
}

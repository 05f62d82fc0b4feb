using ModelCompiler.Spec;
using static ModelCompiler.Tests.Spec.SpecAssert;

namespace ModelCompiler.Tests.Spec;

/// <summary>Specs on disk: loading, paths relative to the spec file, files that must exist, same-data warnings.</summary>
public sealed class SpecFileTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("mc-spec");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string relativePath, string content)
    {
        var path = Path.Combine(_dir, relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        return path;
    }

    [Fact]
    public void Load_resolves_paths_against_the_spec_files_folder()
    {
        Write("data/calib.txt", "Once upon a time");
        Write("data/eval.txt", "There was a cat");
        Write("tok512.bin", "x");
        var specPath = Write("models/spec.yaml", """
            calibration:
              text: ../data/calib.txt
              tokenizer: ../tok512.bin
            evaluation:
              text: ../data/eval.txt
            """);

        var result = SpecLoader.Load(specPath);

        Assert.Empty(result.Warnings);
        Assert.Equal(specPath, result.Spec.SpecPath);
        Assert.Equal(Path.Combine(_dir, "models"), result.Spec.BaseDirectory);
        var calibration = Assert.IsType<TextSourceSpec>(result.Spec.Calibration.Source).Text;
        Assert.Equal(Path.Combine(_dir, "data", "calib.txt"), calibration.FullPath);
        Assert.Equal(specPath, calibration.Location.File);
        Assert.Equal((2, 9), (calibration.Location.Line, calibration.Location.Column));
        Assert.Equal(Path.Combine(_dir, "tok512.bin"), result.Spec.Calibration.Tokenizer!.FullPath);
    }

    [Fact]
    public void Load_reads_the_shared_corpora()
    {
        var specPath = Write("spec.yaml", $"""
            calibration: {"{"} text: '{TestPaths.TinyStoriesSample}' {"}"}
            evaluation: {"{"} text: '{TestPaths.TinyStoriesValid}' {"}"}
            """);
        var spec = SpecLoader.Load(specPath).Spec;
        Assert.Equal(TestPaths.TinyStoriesSample, Assert.IsType<TextSourceSpec>(spec.Calibration.Source).Text.FullPath);
    }

    [Fact]
    public void Missing_spec_file_names_the_file()
    {
        var missing = Path.Combine(_dir, "nope.yaml");
        var error = Assert.Throws<ModelCompilerException>(() => SpecLoader.Load(missing));
        Assert.Equal((SpecCodes.SpecFileNotFound, missing, 0), (error.Code, error.File, error.Line));
        Assert.StartsWith($"{missing}: error MC1100: spec file not found", error.ToDiagnosticString());
    }

    [Fact]
    public void A_folder_is_not_a_spec_file()
    {
        var error = Assert.Throws<ModelCompilerException>(() => SpecLoader.Load(_dir));
        Assert.Equal(SpecCodes.SpecFileNotFound, error.Code);
        Assert.Contains("is a folder", error.Message);
    }

    [Fact]
    public void Errors_in_a_loaded_spec_name_its_full_path()
    {
        var specPath = Write("spec.yaml", "calibration:\n  generated: {}\ntarget: tpu\n");
        var error = Assert.Throws<ModelCompilerException>(() => SpecLoader.Load(specPath));
        At(error, SpecCodes.UnknownValue, 3, 9, specPath);
    }

    [Fact]
    public void Missing_text_file_is_reported_at_the_line_that_names_it()
    {
        Write("calib.txt", "text");
        var error = Fails("""
            calibration:
              text: calib.txt
            evaluation:
              text: data/eval.txt
            """, _dir, checkFiles: true);

        At(error, SpecCodes.ReferencedFileNotFound, 4, 9);
        Assert.Contains("'data/eval.txt'", error.Message);
        Assert.Contains(Path.Combine(_dir, "data", "eval.txt"), error.Message);
        Assert.Contains("relative to the spec's folder", error.Message);
    }

    [Fact]
    public void Missing_tokenizer_file_is_reported_at_its_line()
    {
        Write("calib.txt", "text");
        var error = Fails("calibration:\n  text: calib.txt\n  tokenizer: tok.bin\n", _dir, checkFiles: true);
        At(error, SpecCodes.ReferencedFileNotFound, 3, 14);
    }

    [Fact]
    public void A_folder_is_not_a_text_file()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "data"));
        var error = Fails("calibration:\n  text: data\n", _dir, checkFiles: true);
        At(error, SpecCodes.ReferencedFileNotFound, 2, 9);
        Assert.Contains("names the folder", error.Message);
    }

    [Fact]
    public void Files_are_not_needed_when_not_checked()
    {
        var spec = Parse("calibration:\n  text: nowhere.txt\n", _dir, checkFiles: false).Spec;
        Assert.Equal(Path.Combine(_dir, "nowhere.txt"), Assert.IsType<TextSourceSpec>(spec.Calibration.Source).Text.FullPath);
    }

    [Fact]
    public void Same_calibration_and_evaluation_path_is_a_warning()
    {
        Write("data/calib.txt", "Once upon a time");
        var result = Parse("""
            calibration:
              text: data/calib.txt
            evaluation:
              text: ./data/../data/calib.txt
            """, _dir, checkFiles: true);

        var warning = Assert.Single(result.Warnings);
        Assert.Equal(SpecCodes.SameCalibrationAndEvaluationText, warning.Code);
        At(warning.Location, 4, 9);
        Assert.Contains("is the calibration text (line 2)", warning.Message);
        Assert.StartsWith("spec.yaml(4,9): warning MC1150: ", warning.ToDiagnosticString());
    }

    [Fact]
    public void Same_calibration_and_evaluation_content_is_a_warning()
    {
        Write("calib.txt", "Once upon a time");
        Write("copy.txt", "Once upon a time");
        Write("other.txt", "Once upon a tide");
        var result = Parse("calibration: { text: calib.txt }\nevaluation: { text: copy.txt }\n", _dir, checkFiles: true);
        Assert.Contains("has the same content", Assert.Single(result.Warnings).Message);

        result = Parse("calibration: { text: calib.txt }\nevaluation: { text: other.txt }\n", _dir, checkFiles: true);
        Assert.Empty(result.Warnings);
    }

    [Fact]
    public void Large_texts_are_compared_past_the_first_chunk()
    {
        var text = new string('a', 200_000);
        Write("calib.txt", text);
        Write("same.txt", text);
        Write("late.txt", text[..^1] + "b");
        Assert.Single(Parse("calibration: { text: calib.txt }\nevaluation: { text: same.txt }\n", _dir, checkFiles: true).Warnings);
        Assert.Empty(Parse("calibration: { text: calib.txt }\nevaluation: { text: late.txt }\n", _dir, checkFiles: true).Warnings);
    }

    [Fact]
    public void Same_generated_seed_is_a_warning()
    {
        var result = Parse("calibration: { generated: { seed: 3 } }\nevaluation: { generated: { seed: 3 } }\n");
        var warning = Assert.Single(result.Warnings);
        Assert.Equal(SpecCodes.SameGeneratedSeed, warning.Code);
        At(warning.Location, 2, 34);
    }

    [Fact]
    public void Generated_tokens_above_max_tokens_is_a_warning()
    {
        var result = Parse("calibration:\n  generated: { tokens: 9000 }\n");
        var warning = Assert.Single(result.Warnings);
        Assert.Equal(SpecCodes.GeneratedTokensAboveMax, warning.Code);
        At(warning.Location, 2, 24);
        Assert.Contains("only 8192 tokens are used", warning.Message);
    }
}

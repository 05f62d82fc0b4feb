using ModelCompiler.Policies;
using ModelCompiler.Spec;
using ModelCompiler.Tests;
using ModelCompiler.Tests.Policies;

namespace ModelCompiler.Core.Tests.Policies;

/// <summary>Bad almp and budget specs: each a coded error at the spec line, raised when the policy is built (before calibration).</summary>
public sealed class PolicySpecErrorTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("mc-policy-spec");

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private ModelCompilerException Fails(string policyYaml) =>
        Assert.Throws<ModelCompilerException>(() => PolicyTestData.Policy(policyYaml, _dir));

    [Fact]
    public void A_missing_predictor_file_is_reported_at_its_line()
    {
        var e = Fails("  kind: almp\n  predictor: nowhere.predictor");
        Assert.Equal(SpecCodes.ReferencedFileNotFound, e.Code);
        Assert.Equal(4, e.Line);
    }

    [Fact]
    public void A_corrupt_predictor_file_is_reported_at_its_line()
    {
        File.WriteAllText(Path.Combine(_dir, "bad.predictor"), "{\"format\": \"something else\"}\nPK");
        var e = Fails("  kind: almp\n  predictor: bad.predictor");
        Assert.Equal(PredictorCodes.PredictorFileCorrupt, e.Code);
        Assert.Equal(4, e.Line);
        Assert.Contains("bad.predictor", e.Message);
    }

    [Fact]
    public void A_predictor_trained_on_other_features_is_refused_naming_the_difference()
    {
        // A real predictor file whose header lists one feature this modelc does not compute.
        var trained = PredictorTrainer.Train(SyntheticSensitivity.Fixture());
        var renamed = trained with { Header = trained.Header with { FeatureNames = ["an_old_feature", .. trained.Header.FeatureNames.Skip(1)] } };
        PredictorFile.Save(Path.Combine(_dir, "old.predictor"), renamed);
        var e = Fails("  kind: almp\n  predictor: old.predictor");
        Assert.Equal(PredictorCodes.PredictorFeatureMismatch, e.Code);
        Assert.Equal(4, e.Line);
        Assert.Contains("an_old_feature", e.Message);
    }

    [Theory]
    [InlineData("  kind: almp\n  threshold: 1.5")]
    [InlineData("  kind: almp\n  threshold: -0.1")]
    public void A_threshold_outside_0_1_is_out_of_range(string yaml)
    {
        var e = Fails(yaml);
        Assert.Equal(SpecCodes.OutOfRange, e.Code);
        Assert.Equal(4, e.Line);
    }

    [Theory]
    [InlineData("  kind: budget", 3)]
    [InlineData("  kind: budget\n  min_int8_fraction: 0.5\n  max_model_bytes: 1000", 5)]
    public void A_budget_needs_exactly_one_constraint(string yaml, int line)
    {
        var e = Fails(yaml);
        Assert.Equal(SpecCodes.BudgetConstraintCount, e.Code);
        Assert.Equal(line, e.Line);
    }

    [Fact]
    public void A_budget_of_bytes_is_a_whole_number()
    {
        var e = Fails("  kind: budget\n  max_model_bytes: 10.5");
        Assert.Equal(SpecCodes.WrongType, e.Code);
    }

    [Fact]
    public void A_budget_no_assignment_can_meet_is_MC1123_at_the_constraint()
    {
        var (spec, policy) = PolicyTestData.Policy("  kind: budget\n  min_int8_fraction: 0.9\n  exclude: [\"big\"]", _dir);
        var candidates = new[]
        {
            PolicyTestData.Candidate("small", 3, 2, inF: 10, outF: 10),   // 100 parameters
            PolicyTestData.Candidate("big", 3, 2, inF: 30, outF: 30),     // 900 parameters, excluded: at most 10% can be INT8
        };
        var e = Assert.Throws<ModelCompilerException>(() => policy.Decide(PolicyTestData.Context(candidates)));
        Assert.Equal(SpecCodes.BudgetInfeasible, e.Code);
        Assert.Equal(4, e.Line);
        _ = spec;
    }
}

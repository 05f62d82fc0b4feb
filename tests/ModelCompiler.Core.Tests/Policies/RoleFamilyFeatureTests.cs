using System.Text.Json;
using ModelCompiler.Policies;
using ModelCompiler.Spec;
using ModelCompiler.Tests;
using static ModelCompiler.Core.Tests.Policies.PolicyTestData;

namespace ModelCompiler.Core.Tests.Policies;

/// <summary>
/// The fused roles reach the predictor through their families (qkv as q, k, v; fc_in as up; fc_out as down), so the
/// feature names, and every predictor file trained on them, stay as they were before the fused roles existed.
/// </summary>
public sealed class RoleFamilyFeatureTests
{
    /// <summary>The feature names of the predictor files written before qkv/fc_in/fc_out (the built-in one's header).</summary>
    private static readonly string[] NamesBeforeFusedRoles =
    [
        "log10_abs_max", "log2_p99_over_std", "log2_p999_over_std", "log2_p9999_over_std", "log10_std", "log2_kurtosis",
        "skewness", "log10_outlier_ratio", "log2_spike_score", "log2_token_abs_max_ratio", "log2_abs_max_over_std",
        "log10_weight_abs_max", "log10_weight_std", "log2_weight_kurtosis", "log2_weight_channel_spread", "relative_depth",
        "role_other", "role_q", "role_k", "role_v", "role_o", "role_gate", "role_up", "role_down", "role_lm_head",
    ];

    private static string BuiltinFile => Path.Combine(TestPaths.RepoRoot, "src", "ModelCompiler.Core", "Policies", "builtin.predictor");

    private static float[] RolePart(LayerRole role)
    {
        var f = LayerFeatures.Of(Candidate("l0.x", kurtosis: 5, spike: 3, role));
        return f[^LayerRoles.FeatureRoles.Count..];
    }

    [Fact]
    public void Feature_names_are_those_of_the_predictor_files_written_before_the_fused_roles()
    {
        Assert.Equal(NamesBeforeFusedRoles, LayerFeatures.Names);
        using var header = JsonDocument.Parse(File.ReadLines(BuiltinFile).First());
        Assert.Equal(NamesBeforeFusedRoles, header.RootElement.GetProperty("feature_names").EnumerateArray().Select(e => e.GetString()));
        // The file on disk loads as a user's predictor file does, and the embedded copy too.
        Assert.Equal(NamesBeforeFusedRoles, PredictorFile.Load(BuiltinFile, "old.predictor").Header.FeatureNames);
        Assert.Equal("LbfgsLogisticRegression", PredictorFile.LoadBuiltin().Trainer);
    }

    [Fact]
    public void Roles_that_existed_before_are_one_hot_in_their_old_place()
    {
        string[] before = ["other", "q", "k", "v", "o", "gate", "up", "down", "lm_head"];
        foreach (var name in before)
        {
            Assert.True(LayerRoles.TryParse(name, out var role));
            var expected = before.Select(b => b == name ? 1f : 0f).ToArray();
            Assert.Equal(expected, RolePart(role));
        }
    }

    [Fact]
    public void Fused_roles_read_as_their_family()
    {
        Assert.Equal([0f, 1f / 3, 1f / 3, 1f / 3, 0f, 0f, 0f, 0f, 0f], RolePart(LayerRole.Qkv));
        Assert.Equal(RolePart(LayerRole.Up), RolePart(LayerRole.FcIn));
        Assert.Equal(RolePart(LayerRole.Down), RolePart(LayerRole.FcOut));
        // Everything but the role part is the same features of the same statistics.
        var qkv = LayerFeatures.Of(Candidate("l0.x", kurtosis: 5, spike: 3, LayerRole.Qkv));
        var q = LayerFeatures.Of(Candidate("l0.x", kurtosis: 5, spike: 3, LayerRole.Q));
        Assert.Equal(q[..^LayerRoles.FeatureRoles.Count], qkv[..^LayerRoles.FeatureRoles.Count]);
    }

    [Theory]
    [InlineData(5.0, 3.0)]
    [InlineData(40.0, 3.0)]
    [InlineData(4.0, 30.0)]
    public void The_builtin_predictor_puts_a_fused_qkv_between_q_k_and_v(double kurtosis, double spike)
    {
        // A logistic regression's score is linear in the features, so the mean of q, k and v's one-hot gives a risk
        // between theirs; fc_in and fc_out are predicted exactly as up and down.
        var p = PredictorFile.LoadBuiltin();
        double Risk(LayerRole r) => p.Predict(LayerFeatures.Of(Candidate("l0.x", kurtosis, spike, r)));
        var parts = new[] { Risk(LayerRole.Q), Risk(LayerRole.K), Risk(LayerRole.V) };
        Assert.InRange(Risk(LayerRole.Qkv), parts.Min() - 1e-9, parts.Max() + 1e-9);
        Assert.Equal(Risk(LayerRole.Up), Risk(LayerRole.FcIn));
        Assert.Equal(Risk(LayerRole.Down), Risk(LayerRole.FcOut));
    }

    [Fact]
    public void Exclude_roles_takes_the_fused_roles()
    {
        IReadOnlyList<LayerCandidate> gpt2 =
        [
            Candidate("transformer.h.0.attn.c_attn", kurtosis: 3, spike: 2, LayerRole.Qkv),
            Candidate("transformer.h.0.attn.c_proj", kurtosis: 3, spike: 2, LayerRole.O),
            Candidate("transformer.h.0.mlp.c_fc", kurtosis: 3, spike: 2, LayerRole.FcIn),
            Candidate("transformer.h.0.mlp.c_proj", kurtosis: 3, spike: 2, LayerRole.FcOut),
        ];
        var d = Decide("  kind: all-int8\n  exclude_roles: [qkv, fc_out]", gpt2);
        Assert.Equal(["fp32", "int8", "int8", "fp32"], d.Select(x => PolicyOverrides.Name(x.Precision)));
        Assert.StartsWith("exclude_roles 'qkv' (line 4", d[0].Evidence.Override);
        Assert.StartsWith("exclude_roles 'fc_out' (line 4", d[3].Evidence.Override);
        // A role names exactly one role: down is not fc_out.
        Assert.All(Decide("  kind: all-int8\n  exclude_roles: [down]", gpt2), x => Assert.Equal(LayerPrecision.Int8, x.Precision));
    }

    [Fact]
    public void A_role_no_layer_has_is_warned_with_the_roles_of_its_family()
    {
        var (spec, _) = Policy("  kind: all-int8\n  exclude_roles: [down, lm_head, q]");
        var gpt2 = new Dictionary<string, LayerRole>
        {
            ["transformer.h.0.attn.c_attn"] = LayerRole.Qkv, ["transformer.h.0.attn.c_proj"] = LayerRole.O,
            ["transformer.h.0.mlp.c_fc"] = LayerRole.FcIn, ["transformer.h.0.mlp.c_proj"] = LayerRole.FcOut, ["lm_head"] = LayerRole.LmHead,
        };
        var warnings = PolicyOverrides.UnmatchedRoles(spec, gpt2).ToList();
        Assert.Equal([SpecCodes.RoleMatchesNoLayer, SpecCodes.RoleMatchesNoLayer], warnings.Select(w => w.Code));
        Assert.Equal("exclude_roles 'down' matches no layer of this model (its roles: o, lm_head, qkv, fc_in, fc_out); did you mean 'fc_out'?", warnings[0].Message);
        Assert.EndsWith("did you mean 'qkv'?", warnings[1].Message);
        Assert.All(warnings, w => Assert.Equal(4, w.Location.Line));
        Assert.Empty(PolicyOverrides.UnmatchedRoles(Policy("  kind: all-int8\n  exclude_roles: [fc_out, lm_head]").Spec, gpt2));
    }

    [Fact]
    public void An_unknown_role_lists_every_role_and_suggests_the_closest()
    {
        var e = Assert.Throws<ModelCompilerException>(() => Policy("  kind: all-int8\n  exclude_roles: [fcout]"));
        Assert.Equal(SpecCodes.UnknownValue, e.Code);
        foreach (var role in new[] { "q", "k", "v", "o", "gate", "up", "down", "lm_head", "qkv", "fc_in", "fc_out" })
            Assert.Contains($"'{role}'", e.Message);
        Assert.Contains("did you mean 'fc_out'?", e.Message);
    }
}

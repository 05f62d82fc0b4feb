using ModelCompiler.Policies;

namespace ModelCompiler.Tests.Policies;

/// <summary>
/// Sensitivity rows whose label is a known function of one feature: label = (x + noise·z > threshold), x the
/// informative feature, z standard normal; every other feature is noise (roles a proper one-hot, depth in [0, 1]).
/// With <c>informative: false</c> the label is a fair coin, unrelated to any feature. Seeded: the same arguments give
/// the same rows.
/// </summary>
public static class SyntheticSensitivity
{
    public const string InformativeFeature = "log2_spike_score";

    /// <summary>The rows behind the checked-in fixture CSV and the placeholder built-in predictor.</summary>
    public static IReadOnlyList<SensitivityRow> Fixture() => Rows(models: 6, layersPerModel: 30, seed: 20261201);

    public static IReadOnlyList<SensitivityRow> Rows(int models, int layersPerModel, int seed, bool informative = true, double noise = 0.3,
        double threshold = 0.8, string prefix = "synthetic")
    {
        var random = new Random(seed);
        var names = LayerFeatures.Names;
        var informativeIndex = IndexOf(InformativeFeature);
        var depthIndex = IndexOf("relative_depth");
        var roles = LayerRoles.FeatureRoles.Where(r => r != LayerRole.Other && r != LayerRole.LmHead).ToArray();
        var rows = new List<SensitivityRow>();
        for (var m = 0; m < models; m++)
        {
            for (var l = 0; l < layersPerModel; l++)
            {
                var role = roles[l % roles.Length];
                var block = l / roles.Length;
                var features = new float[names.Count];
                for (var i = 0; i < features.Length; i++) features[i] = (float)Normal(random);
                features[depthIndex] = (float)random.NextDouble();
                foreach (var r in LayerRoles.FeatureRoles) features[IndexOf("role_" + LayerRoles.Name(r))] = r == role ? 1 : 0;
                var hurts = informative
                    ? features[informativeIndex] + noise * Normal(random) > threshold
                    : random.NextDouble() < 0.5;
                var delta = hurts ? 1 + random.NextDouble() : random.NextDouble() * 0.5;
                rows.Add(new SensitivityRow($"{prefix}-{m}", $"model.layers.{block}.{RoleName(role)}", LayerRoles.Name(role), features,
                    Math.Round(delta, 4), Math.Round(delta / 100, 6), hurts));
            }
        }
        return rows;
    }

    public static int IndexOf(string feature) =>
        LayerFeatures.Names.ToList().IndexOf(feature) is var i and >= 0 ? i : throw new ArgumentException(feature);

    private static string RoleName(LayerRole role) => role switch
    {
        LayerRole.Q or LayerRole.K or LayerRole.V or LayerRole.O => "self_attn." + LayerRoles.Name(role) + "_proj",
        _ => "mlp." + LayerRoles.Name(role) + "_proj",
    };

    private static double Normal(Random r) =>
        Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble());
}

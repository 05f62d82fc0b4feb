using ModelCompiler.Calibration;
using ModelCompiler.Onnx.Proto;
using ModelCompiler.Policies;
using ModelCompiler.Quantization;
using ModelCompiler.Spec;

namespace ModelCompiler.Core.Tests.Policies;

/// <summary>Candidates with statistics chosen by the test, for policy decisions worked out by hand.</summary>
internal static class PolicyTestData
{
    public static QuantizableLayer Layer(string name, long inFeatures = 64, long outFeatures = 64) => new()
    {
        Name = name,
        Node = new NodeProto { Name = "/" + name.Replace('.', '/') + "/MatMul", OpType = "MatMul", Input = { name + ".in", name + ".weight" }, Output = { name + ".out" } },
        ActivationInput = name + ".in",
        WeightInitializer = name + ".weight",
        WeightTransposed = false,
        InFeatures = inFeatures,
        OutFeatures = outFeatures,
    };

    public static ActivationSummary Activation(double kurtosis, double spike, float absMax = 4, double std = 1) => new(
        Values: 1000, Tokens: 10, Channels: 64, Min: -absMax, Max: absMax, AbsMax: absMax, Mean: 0, Std: std, Kurtosis: kurtosis, Skewness: 0,
        AbsP99: 2.5, AbsP999: 3, AbsP9999: 3.5, OutlierRatio: 0, SpikeScore: spike,
        ChannelAbsMaxMedian: absMax / spike, TokenAbsMaxMean: 3, TokenAbsMaxMax: absMax, TopChannels: [0]);

    public static LayerCandidate Candidate(string name, double kurtosis, double spike, LayerRole role = LayerRole.Other, long inF = 64, long outF = 64) =>
        new(Layer(name, inF, outF), Activation(kurtosis, spike), new WeightStats(0.1, 0.02, 3, 2), role, 0.5);

    public static PolicyContext Context(IReadOnlyList<LayerCandidate> candidates, ISensitivityProbe? probe = null) =>
        new(candidates, LayerPrecision.Fp32, probe, new ModelBudget(0, 0));

    /// <summary>The policy a spec's YAML describes, built as the compiler builds it.</summary>
    public static (PolicySpec Spec, ILayerPolicy Policy) Policy(string policyYaml, string? dir = null)
    {
        var yaml = "calibration: { generated: {} }\npolicy:\n" + policyYaml + "\n";
        var baseDir = dir ?? Path.GetTempPath();
        var spec = SpecLoader.Parse(yaml, Path.Combine(baseDir, "spec.yaml"), baseDir, checkFiles: dir is not null).Spec;
        return (spec.Policy, PolicyKinds.Create(spec.Policy));
    }

    public static IReadOnlyList<LayerDecision> Decide(string policyYaml, IReadOnlyList<LayerCandidate> candidates, ISensitivityProbe? probe = null)
    {
        var (spec, policy) = Policy(policyYaml);
        var roles = candidates.ToDictionary(c => c.Layer.Name, c => c.Role, StringComparer.Ordinal);
        PolicyOverrides.Validate(spec, candidates.Select(c => c.Layer).ToList(), roles);
        return PolicyOverrides.Apply(spec, LayerPrecision.Fp32, policy.Decide(Context(candidates, probe)), roles);
    }
}

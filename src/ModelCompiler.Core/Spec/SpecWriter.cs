using System.Globalization;
using ModelCompiler.Calibration;
using YamlDotNet.RepresentationModel;

namespace ModelCompiler.Spec;

/// <summary>
/// Writes the effective spec: every default made explicit, paths absolute, keys in the documented order.
/// Reading the output back gives the same spec values; the same spec always gives the same text
/// (for reports and for deciding whether a model must be rebuilt).
/// </summary>
public static class SpecWriter
{
    public static string ToYaml(QuantizationSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var root = new YamlMappingNode
        {
            { SpecKeys.Target, Name(spec.Target.Value) },
            { SpecKeys.Calibration, Calibration(spec) },
            { SpecKeys.Evaluation, TokenData(spec.Evaluation) },
            { SpecKeys.Policy, Policy(spec.Policy) },
            { SpecKeys.Fallback, Name(spec.Fallback.Value) },
            { SpecKeys.Validation, Validation(spec.Validation) },
        };

        var gates = new YamlMappingNode();
        AddNumber(gates, SpecKeys.MaxPerplexityIncreasePct, spec.Gates.MaxPerplexityIncreasePct);
        AddNumber(gates, SpecKeys.MaxPerplexity, spec.Gates.MaxPerplexity);
        AddNumber(gates, SpecKeys.MinInt8Fraction, spec.Gates.MinInt8Fraction);
        if (!spec.Gates.OnFail.IsDefault)
        {
            gates.Add(SpecKeys.OnFail, Name(spec.Gates.OnFail.Value));
        }
        if (gates.Children.Count > 0)
        {
            root.Add(SpecKeys.Gates, gates);
        }

        using var writer = new StringWriter(CultureInfo.InvariantCulture) { NewLine = "\n" };
        new YamlStream(new YamlDocument(root)).Save(writer, assignAnchors: false);
        // YamlStream ends the document with "...", which only matters for streams of several documents.
        var text = writer.ToString();
        return text.EndsWith("...\n", StringComparison.Ordinal) ? text[..^4] : text;
    }

    internal static YamlSequenceNode GlobList(IEnumerable<SpecValue<string>> globs) =>
        new(globs.Select(g => (YamlNode)new YamlScalarNode(g.Value) { Style = YamlDotNet.Core.ScalarStyle.DoubleQuoted }))
        {
            Style = YamlDotNet.Core.Events.SequenceStyle.Flow,
        };

    /// <summary>A number as the effective spec writes it: round-trip, invariant.</summary>
    internal static YamlScalarNode Number(double value) => new(value.ToString("R", CultureInfo.InvariantCulture));

    internal static YamlSequenceNode RoleList(IEnumerable<SpecValue<Policies.LayerRole>> roles) =>
        new(roles.Select(r => (YamlNode)new YamlScalarNode(Policies.LayerRoles.Name(r.Value))))
        {
            Style = YamlDotNet.Core.Events.SequenceStyle.Flow,
        };

    private static YamlMappingNode Calibration(QuantizationSpec spec)
    {
        var node = TokenData(spec.Calibration);
        var method = spec.CalibrationMethod;
        node.Add(SpecKeys.Method, RangeEstimators.NameOf(method.Method.Value));
        if (method.Method.Value == CalibrationMethod.Percentile)
        {
            AddNumber(node, SpecKeys.Percentile, method.Percentile);
        }

        return node;
    }

    private static YamlMappingNode TokenData(TokenDataSpec data)
    {
        var node = new YamlMappingNode();
        switch (data.Source)
        {
            case TextSourceSpec text:
                node.Add(SpecKeys.Text, text.Text.FullPath);
                break;
            case GeneratedSourceSpec generated:
                node.Add(SpecKeys.Generated, new YamlMappingNode
                {
                    { SpecKeys.Tokens, Int(generated.Tokens.Value) },
                    { SpecKeys.Seed, Int(generated.Seed.Value) },
                });
                break;
            default:
                throw new InvalidOperationException($"no writer for token source {data.Source.GetType().Name}");
        }

        if (data.Tokenizer is not null)
        {
            node.Add(SpecKeys.Tokenizer, data.Tokenizer.FullPath);
        }

        node.Add(SpecKeys.Context, Int(data.Context.Value));
        node.Add(SpecKeys.MaxTokens, Int(data.MaxTokens.Value));
        return node;
    }

    private static YamlMappingNode Policy(PolicySpec policy)
    {
        var node = new YamlMappingNode { { SpecKeys.Kind, policy.Kind } };
        foreach (var (key, value) in PolicyKinds.For(policy).Write(policy))
        {
            node.Add(key, value);
        }

        node.Add(SpecKeys.Exclude, GlobList(policy.Exclude));
        if (policy.ExcludeRoles.Count > 0)
        {
            node.Add(SpecKeys.ExcludeRoles, RoleList(policy.ExcludeRoles));
        }

        if (policy.ForceInt8.Count > 0)
        {
            node.Add(SpecKeys.ForceInt8, GlobList(policy.ForceInt8));
        }

        return node;
    }

    private static YamlMappingNode Validation(ValidationSpec validation) => new()
    {
        { SpecKeys.Providers, Providers(validation.Providers) },
        { SpecKeys.Require, Providers(validation.Require) },
    };

    private static YamlSequenceNode Providers(IEnumerable<SpecValue<ExecutionProviderKind>> providers) =>
        new(providers.Select(p => (YamlNode)new YamlScalarNode(Name(p.Value))))
        {
            Style = YamlDotNet.Core.Events.SequenceStyle.Flow,
        };

    private static void AddNumber(YamlMappingNode node, string key, SpecValue<double>? value)
    {
        if (value is not null)
        {
            node.Add(key, value.Value.ToString("R", CultureInfo.InvariantCulture));
        }
    }

    private static string Int(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Name<T>(T value) where T : struct, Enum => value.ToString().ToLowerInvariant();
}

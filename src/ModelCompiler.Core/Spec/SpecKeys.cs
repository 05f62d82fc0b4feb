namespace ModelCompiler.Spec;

/// <summary>The keys valid at each level of a spec, in the order the spec documents and writes them.</summary>
internal static class SpecKeys
{
    public const string Target = "target";
    public const string Calibration = "calibration";
    public const string Evaluation = "evaluation";
    public const string Policy = "policy";
    public const string Fallback = "fallback";
    public const string Validation = "validation";
    public const string Gates = "gates";

    public const string Text = "text";
    public const string Generated = "generated";
    public const string Tokenizer = "tokenizer";
    public const string Context = "context";
    public const string MaxTokens = "max_tokens";

    public const string Method = "method";
    public const string Percentile = "percentile";

    public const string Tokens = "tokens";
    public const string Seed = "seed";

    public const string Kind = "kind";
    public const string Include = "include";
    public const string Exclude = "exclude";
    public const string ForceInt8 = "force_int8";
    public const string ExcludeRoles = "exclude_roles";
    public const string Threshold = "threshold";
    public const string Predictor = "predictor";
    public const string SpikeThreshold = "spike_threshold";
    public const string KurtosisThreshold = "kurtosis_threshold";
    public const string Roles = "roles";
    public const string MaxModelBytes = "max_model_bytes";
    public const string MaxPredictedIncreasePct = "max_predicted_increase_pct";
    public const string Costs = "costs";
    public const string MaxLayerIncreasePct = "max_layer_increase_pct";
    public const string ProbeTokens = "probe_tokens";
    public const string OnFail = "on_fail";

    public const string Providers = "providers";
    public const string Require = "require";

    public const string MaxPerplexityIncreasePct = "max_perplexity_increase_pct";
    public const string MaxPerplexity = "max_perplexity";
    public const string MinInt8Fraction = "min_int8_fraction";

    public static readonly IReadOnlyList<string> TopLevel = [Target, Calibration, Evaluation, Policy, Fallback, Validation, Gates];
    public static readonly IReadOnlyList<string> TokenData = [Text, Generated, Tokenizer, Context, MaxTokens];
    public static readonly IReadOnlyList<string> CalibrationOnly = [Method, Percentile];
    public static readonly IReadOnlyList<string> CalibrationKeys = [.. TokenData, .. CalibrationOnly];
    public static readonly IReadOnlyList<string> GeneratedKeys = [Tokens, Seed];
    public static readonly IReadOnlyList<string> ValidationKeys = [Providers, Require];
    public static readonly IReadOnlyList<string> GateKeys = [MaxPerplexityIncreasePct, MaxPerplexity, MinInt8Fraction, OnFail];

    /// <summary>The sections ("" for the top level) where <paramref name="key"/> is valid, for "it belongs under" hints.</summary>
    public static IReadOnlyList<string> SectionsWith(string key)
    {
        var sections = new List<string>();
        if (TopLevel.Contains(key))
        {
            sections.Add("");
        }

        if (TokenData.Contains(key))
        {
            sections.Add(Calibration);
            sections.Add(Evaluation);
        }

        if (CalibrationOnly.Contains(key))
        {
            sections.Add(Calibration);
        }

        if (GeneratedKeys.Contains(key))
        {
            sections.Add(Generated);
        }

        if (PolicyKinds.AllKeys.Contains(key))
        {
            sections.Add(Policy);
        }

        if (ValidationKeys.Contains(key))
        {
            sections.Add(Validation);
        }

        if (GateKeys.Contains(key))
        {
            sections.Add(Gates);
        }

        return sections;
    }
}

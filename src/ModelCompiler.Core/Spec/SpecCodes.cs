namespace ModelCompiler.Spec;

/// <summary>The diagnostic codes of reading a spec (MC1100-MC1149 errors, MC1150-MC1199 warnings).</summary>
public static class SpecCodes
{
    /// <summary>The spec file does not exist or cannot be read.</summary>
    public const string SpecFileNotFound = "MC1100";

    /// <summary>The text is not valid YAML (translated from YamlDotNet, at its position).</summary>
    public const string YamlSyntax = "MC1101";

    /// <summary>The spec holds no document, or only comments or null.</summary>
    public const string EmptySpec = "MC1102";

    /// <summary>The spec holds more than one YAML document.</summary>
    public const string MultipleDocuments = "MC1103";

    /// <summary>The top level is not a mapping of keys.</summary>
    public const string TopLevelNotMapping = "MC1104";

    /// <summary>A key not valid at its level (with a did-you-mean hint).</summary>
    public const string UnknownKey = "MC1105";

    /// <summary>A key given twice in the same mapping.</summary>
    public const string DuplicateKey = "MC1106";

    /// <summary>A value of the wrong kind: text for a number, a scalar for a list or mapping, a non-name key.</summary>
    public const string WrongType = "MC1107";

    /// <summary>A value out of its range: context &lt; 2, negative limits, fraction outside [0, 1], an empty list or glob.</summary>
    public const string OutOfRange = "MC1108";

    /// <summary>A name not among the allowed ones: target, fallback, provider, policy kind.</summary>
    public const string UnknownValue = "MC1109";

    /// <summary>Both <c>text</c> and <c>generated</c> in one section.</summary>
    public const string BothTextAndGenerated = "MC1110";

    /// <summary>Neither <c>text</c> nor <c>generated</c> in a section.</summary>
    public const string NoTokenSource = "MC1111";

    /// <summary>A required section (<c>calibration</c>) is missing.</summary>
    public const string MissingSection = "MC1112";

    /// <summary>A provider listed twice in <c>providers</c> or <c>require</c>.</summary>
    public const string DuplicateProvider = "MC1113";

    /// <summary>A provider in <c>require</c> that is not in <c>providers</c>.</summary>
    public const string RequiredProviderNotListed = "MC1114";

    /// <summary>A key that the chosen policy kind or calibration method does not use (e.g. <c>include</c> with all-int8, <c>percentile</c> with entropy).</summary>
    public const string KeyNotValidForKind = "MC1115";

    /// <summary>A file named in the spec (text, tokenizer) does not exist; reported at the line that names it.</summary>
    public const string ReferencedFileNotFound = "MC1116";

    /// <summary>A layer matched by both <c>policy.force_int8</c> and <c>policy.exclude</c>.</summary>
    public const string ForcedAndExcluded = "MC1120";

    /// <summary>A budget no assignment of INT8/fallback layers can meet.</summary>
    public const string BudgetInfeasible = "MC1123";

    /// <summary>More than one budget constraint, or none, under <c>kind: budget</c>.</summary>
    public const string BudgetConstraintCount = "MC1124";

    /// <summary>The spec file is larger than <see cref="SpecLoader.MaxSpecBytes"/> (or never ends, like a device).</summary>
    public const string SpecTooLarge = "MC1125";

    /// <summary>The YAML nests mappings and lists deeper than <see cref="SpecYaml.MaxDepth"/> levels.</summary>
    public const string YamlTooDeep = "MC1126";

    /// <summary>Warning: evaluation text is the calibration text (same path or same content).</summary>
    public const string SameCalibrationAndEvaluationText = "MC1150";

    /// <summary>Warning: evaluation and calibration both generate tokens with the same seed (the same tokens).</summary>
    public const string SameGeneratedSeed = "MC1151";

    /// <summary>Warning: <c>generated.tokens</c> exceeds <c>max_tokens</c>, so the extra tokens are never used.</summary>
    public const string GeneratedTokensAboveMax = "MC1152";

    /// <summary>Warning: an <c>exclude_roles</c> entry names a role no layer of the model has (e.g. down on GPT-2, whose MLP out-projection is fc_out).</summary>
    public const string RoleMatchesNoLayer = "MC1153";
}

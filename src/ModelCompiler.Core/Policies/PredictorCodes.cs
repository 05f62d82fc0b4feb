namespace ModelCompiler.Policies;

/// <summary>The diagnostic codes of sensitivity tables and predictor files (MC1060-MC1069).</summary>
public static class PredictorCodes
{
    /// <summary>A sensitivity CSV does not exist.</summary>
    public const string SensitivityFileNotFound = "MC1060";

    /// <summary>A sensitivity CSV's header is not model,layer,role,&lt;feature names&gt;,delta_nll_pct,kl,label (lists the difference).</summary>
    public const string SensitivityColumnsMismatch = "MC1061";

    /// <summary>A sensitivity CSV row is malformed: field count, a number, a label other than 0/1, an empty name, quoting.</summary>
    public const string SensitivityRowMalformed = "MC1062";

    /// <summary>The rows cannot train a predictor: fewer than 2 models (no grouped cross-validation) or a single class.</summary>
    public const string TrainingDataInsufficient = "MC1063";

    /// <summary>A predictor file does not exist.</summary>
    public const string PredictorFileNotFound = "MC1064";

    /// <summary>A predictor file is not one, or is damaged: no header, another format or version, truncated, bad model zip.</summary>
    public const string PredictorFileCorrupt = "MC1065";

    /// <summary>A predictor file was trained on other feature names than this modelc computes (lists the difference).</summary>
    public const string PredictorFeatureMismatch = "MC1066";
}

namespace ModelCompiler.Runtime;

/// <summary>How <c>GenerateAsync</c> chooses each token. The defaults (temperature 0) choose greedily, like <c>GenerateGreedy</c>.</summary>
public sealed class GenerationOptions
{
    /// <summary>Divides the logits before sampling; 0 (the default) or less chooses the most likely token (greedy decoding).</summary>
    public float Temperature { get; init; }

    /// <summary>Samples only from the smallest set of most likely tokens whose probabilities sum to at least this (nucleus sampling); 1 keeps all.</summary>
    public float TopP { get; init; } = 1f;

    /// <summary>Samples only from the this many most likely tokens; 0 keeps all.</summary>
    public int TopK { get; init; }

    /// <summary>Seed of the random draws, for reproducible samples; <see langword="null"/> draws a different sequence each time.</summary>
    public int? Seed { get; init; }

    /// <summary>Tokens that end generation, in addition to the model's end-of-sequence tokens; a stop token is not returned.</summary>
    public IReadOnlyList<long> StopTokens { get; init; } = [];

    internal void Validate()
    {
        if (float.IsNaN(Temperature))
        {
            throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "The temperature must be a number.");
        }

        if (!(TopP > 0f && TopP <= 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "TopP must be in (0, 1].");
        }

        if (TopK < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(TopK), TopK, "TopK must not be negative.");
        }

        if (StopTokens is null)
        {
            throw new ArgumentNullException(nameof(StopTokens));
        }
    }
}

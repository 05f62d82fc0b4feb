using ModelCompiler.Calibration;
using ModelCompiler.Evaluation;
using ModelCompiler.Runtime;

namespace ModelCompiler.Compilation;

/// <summary>
/// Data-free calibration/evaluation: token ids sampled from the fp32 model itself (temperature 1), in windows
/// of <c>context</c> tokens that each start at BOS. The same seed gives the same tokens.
/// </summary>
public static class GeneratedTokens
{
    public static TokenStream Sample(string modelPath, int count, int context, int seed, string role)
    {
        using var options = Deterministic.SessionOptions();
        using var session = new DecoderSession(modelPath, options);
        var meta = session.Session.ModelMetadata.CustomMetadataMap;
        var bos = meta.TryGetValue(Import.Llama2cImporter.MetadataKeys.BosTokenId, out var b) && int.TryParse(b, out var id) ? id : 1;
        var tokens = new List<int>(count);
        var window = 0;
        while (tokens.Count < count)
        {
            var length = Math.Min(context, count - tokens.Count);
            tokens.Add(bos);
            if (length > 1)
                tokens.AddRange(TextGenerator.Generate(session, [bos], length - 1, new SamplingOptions(1f, 1f, unchecked(seed * 7919 + window))));
            window++;
        }
        return TokenStream.FromTokens($"generated:{role}:seed={seed}", tokens.ToArray(), window);
    }
}

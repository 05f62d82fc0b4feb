using ModelCompiler.Onnx.Proto;

namespace ModelCompiler.Onnx;

/// <summary>
/// The checks a parsed model passes before modelc reads anything from it: metadata keys unique (the ONNX checker's
/// rule; later stages index metadata by key) and every tensor possible (<see cref="InitializerGuard"/>).
/// </summary>
public static class ModelGuard
{
    public static void Check(ModelProto model, string modelPath)
    {
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in model.MetadataProps)
        {
            if (!keys.Add(entry.Key))
                throw new ModelCompilerException("MC1002", $"not a valid ONNX model: metadata key '{Shorten(entry.Key)}' appears more than once.", modelPath);
        }
        InitializerGuard.Check(model.Graph, modelPath);
    }

    /// <summary>A name from the file, cut for an error line (a fuzzed or hostile model may hold megabytes).</summary>
    internal static string Shorten(string s) => s.Length > 120 ? s[..120] + "…" : s;
}

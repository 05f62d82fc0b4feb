using ModelCompiler.Onnx.Proto;

namespace ModelCompiler.Onnx;

/// <summary>
/// The checks a parsed model passes before modelc reads anything from it: metadata keys unique, graph input and
/// output names unique (the ONNX checker's rules; later stages index both by name) and every tensor possible
/// (<see cref="InitializerGuard"/>).
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
        if (model.Graph is GraphProto graph)
        {
            Unique(graph.Input.Select(v => v.Name), "graph input", modelPath);
            Unique(graph.Output.Select(v => v.Name), "graph output", modelPath);
        }
        InitializerGuard.Check(model.Graph, modelPath);
    }

    private static void Unique(IEnumerable<string> names, string what, string modelPath)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            if (!seen.Add(name))
                throw new ModelCompilerException("MC1002", $"not a valid ONNX model: {what} name '{Shorten(name)}' appears more than once.", modelPath);
        }
    }

    /// <summary>A name from the file, cut for an error line (a fuzzed or hostile model may hold megabytes).</summary>
    internal static string Shorten(string s) => s.Length > 120 ? s[..120] + "…" : s;
}

namespace ModelCompiler.Compilation;

/// <summary>The per-layer plot linked from the report.</summary>
internal static class LayerReportPlot
{
    public static bool TryWrite(CompileResult result, string path) => false;
}

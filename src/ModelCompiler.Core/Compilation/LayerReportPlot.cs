using ModelCompiler.Policies;

namespace ModelCompiler.Compilation;

/// <summary>The per-layer plot linked from the report: spike score and predicted risk, coloured by decision.</summary>
internal static class LayerReportPlot
{
    /// <summary>Draws it; false (and no file) when it cannot be drawn here, since a plot is never a reason to fail a compile.</summary>
    public static bool TryWrite(CompileResult result, string path)
    {
        if (result.Decisions.Count == 0) return false;
        var points = result.Decisions.Select(d => new LayerPlotPoint(
            d.Layer.Name,
            result.Statistics.TryGetValue(d.Layer.Name, out var s) ? s.SpikeScore : 0,
            d.Evidence.PredictedRisk,
            PolicyOverrides.Name(d.Precision))).ToList();
        try
        {
            LayerPlot.Write(points, path);
            return true;
        }
        catch (Exception e) when (e is IOException or TypeInitializationException or DllNotFoundException or InvalidOperationException)
        {
            try { File.Delete(path); } catch (IOException) { }
            return false;
        }
    }
}

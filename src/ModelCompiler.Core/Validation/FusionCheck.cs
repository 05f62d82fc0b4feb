using Microsoft.ML.OnnxRuntime;
using ModelCompiler.Onnx;

namespace ModelCompiler.Validation;

/// <summary>
/// Asks ONNX Runtime's CPU optimizer what it made of the QDQ graph: a QDQ MatMul that ORT does not fuse into
/// an integer kernel runs as DequantizeLinear + float MatMul, slower than plain fp32. Counting the fused
/// kernels in the optimized graph tells whether INT8 actually pays off.
/// </summary>
public static class FusionCheck
{
    public static readonly IReadOnlySet<string> FusedInt8Ops = new HashSet<string>(StringComparer.Ordinal)
    {
        "QLinearMatMul", "MatMulIntegerToFloat", "QGemm", "DynamicQuantizeMatMul",
    };

    /// <summary>Fused kernels in <paramref name="graph"/> and its subgraphs (a merged decoder's If branches are optimized too).</summary>
    private static int CountIn(ModelCompiler.Onnx.Proto.GraphProto graph) =>
        graph.Node.Sum(n => (FusedInt8Ops.Contains(n.OpType) ? 1 : 0) + n.Attribute.Sum(a => (a.G is null ? 0 : CountIn(a.G)) + a.Graphs.Sum(CountIn)));

    /// <summary>
    /// The number of integer matrix-multiply kernels in ORT's optimized CPU graph of <paramref name="modelPath"/>,
    /// or null when ORT could not write that graph (the check is advice, never a reason to fail a compile).
    /// </summary>
    public static int? CountFusedInt8(string modelPath, string workDir)
    {
        var optimized = Path.Combine(workDir, "ort-optimized.onnx");
        try
        {
            using (var options = new SessionOptions
            {
                GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                OptimizedModelFilePath = optimized,
                LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL,
            })
            {
                // Large models: weights go to a side file, or the optimized graph would pass protobuf's 2 GiB limit.
                options.AddSessionConfigEntry("session.optimized_model_external_initializers_file_name", "ort-optimized.onnx.data");
                using (new InferenceSession(modelPath, options)) { }
            }
            return CountIn(OnnxModelIO.Load(optimized).Graph);
        }
        catch (Exception e) when (e is OnnxRuntimeException or ModelCompilerException or IOException)
        {
            return null;
        }
        finally
        {
            File.Delete(optimized);
            var data = optimized + ".data";
            if (File.Exists(data)) File.Delete(data);
        }
    }
}

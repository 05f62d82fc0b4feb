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

    /// <summary>The number of integer matrix-multiply kernels in ORT's optimized CPU graph of <paramref name="modelPath"/>.</summary>
    public static int CountFusedInt8(string modelPath, string workDir)
    {
        var optimized = Path.Combine(workDir, "ort-optimized.onnx");
        using (var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            OptimizedModelFilePath = optimized,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL,
        })
        using (new InferenceSession(modelPath, options))
        {
        }
        try
        {
            return OnnxModelIO.Load(optimized).Graph.Node.Count(n => FusedInt8Ops.Contains(n.OpType));
        }
        finally
        {
            File.Delete(optimized);
            var data = optimized + ".data";
            if (File.Exists(data)) File.Delete(data);
        }
    }
}

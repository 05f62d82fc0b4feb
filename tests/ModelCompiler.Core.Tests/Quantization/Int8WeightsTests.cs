using ModelCompiler.Onnx;
using ModelCompiler.Onnx.Proto;
using ModelCompiler.Quantization;
using ModelCompiler.Runtime;
using ModelCompiler.Transforms;
using DataType = ModelCompiler.Onnx.Proto.TensorProto.Types.DataType;

namespace ModelCompiler.Core.Tests.Quantization;

/// <summary>
/// The weight quantization the transform defers to the save: for every way a graph lays out a weight (MatMul on
/// [in, out], through a Transpose, Gemm with transB, both), the int8 tensor equals a plain-loop quantization of the
/// weight as the node reads it, whatever the thread count, and nothing is quantized before the bytes are asked for.
/// </summary>
public sealed class Int8WeightsTests
{
    // Wide enough (cols × rows > 1 M elements) that the rows are split into several parallel blocks.
    private const int In = 600, Out = 2100;

    /// <summary>Independent reference: the weight as the node reads it, [in, out]; scale_j = max |W[:, j]| / 127.</summary>
    private static (sbyte[] Q, float[] Scales) Reference(float[] wInOut)
    {
        var scales = new float[Out];
        for (var j = 0; j < Out; j++)
        {
            var max = 0f;
            for (var i = 0; i < In; i++) max = Math.Max(max, Math.Abs(wInOut[i * Out + j]));
            scales[j] = max > 0 ? max / 127f : 1f;
        }
        var q = new sbyte[wInOut.Length];
        for (var i = 0; i < In; i++)
            for (var j = 0; j < Out; j++)
                q[i * Out + j] = (sbyte)Math.Clamp((int)Math.Round(wInOut[i * Out + j] / scales[j], MidpointRounding.ToEven), -127, 127);
        return (q, scales);
    }

    private static float[] WeightInOut()
    {
        var rng = new Random(11);
        var w = new float[In * Out];
        for (var i = 0; i < w.Length; i++) w[i] = (float)(rng.NextDouble() * 2 - 1) * (1 + (i % Out) % 7); // channels of different scale
        for (var i = 0; i < In; i++) w[i * Out + 5] = 0; // an all-zero channel has scale 1
        return w;
    }

    private static float[] Transposed(float[] m, int rows, int cols)
    {
        var t = new float[m.Length];
        for (var r = 0; r < rows; r++)
            for (var c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c];
        return t;
    }

    /// <summary>A one-node graph whose weight is stored as the case says; returns it with its discovered layer.</summary>
    private static (OnnxGraph Graph, QuantizableLayer Layer) Graph(float[] wInOut, bool throughTranspose, bool transB)
    {
        // What the node reads: [in, out], or [out, in] with transB. Stored: that, transposed again if a Transpose is in between.
        var nodeReads = transB ? Transposed(wInOut, In, Out) : wInOut;
        var (nr, nc) = transB ? (Out, In) : (In, Out);
        var stored = throughTranspose ? Transposed(nodeReads, nr, nc) : nodeReads;
        var g = new GraphProto { Name = "w" };
        g.Input.Add(TensorInfo.Of("x", DataType.Float, 1, In));
        g.Output.Add(TensorInfo.Of("y", DataType.Float, 1, Out));
        g.Initializer.Add(throughTranspose ? TensorData.Floats("fc.weight", stored, nc, nr) : TensorData.Floats("fc.weight", stored, nr, nc));
        var graph = new OnnxGraph(g);
        var weight = "fc.weight";
        if (throughTranspose)
        {
            graph.AddNode("Transpose", ["fc.weight"], ["fc.weight_t"], "t", Attr.Ints("perm", 1, 0));
            weight = "fc.weight_t";
        }
        if (transB) graph.AddNode("Gemm", ["x", weight], ["y"], "fc", Attr.Int("transB", 1));
        else graph.AddNode("MatMul", ["x", weight], ["y"], "fc");
        return (graph, LayerDiscovery.Find(graph).Single());
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void DeferredInt8Weight_EqualsAPlainLoopQuantization_InTheNodesLayout_ForAnyThreadCount(bool throughTranspose, bool transB)
    {
        var w = WeightInOut();
        var (expected, expectedScales) = Reference(w);
        var expectedInNodeLayout = transB ? TransposedBytes(expected) : expected;
        try
        {
            foreach (var threads in new[] { 1, 3 })
            {
                ComputeThreads.Set(threads);
                var (graph, layer) = Graph(w, throughTranspose, transB);
                var (tensor, scales, axis) = Int8Weights.ForLayer(graph, layer, "q");

                Assert.True(LazyTensorBytes.IsLazy(tensor));
                Assert.Equal(transB ? new long[] { Out, In } : [In, Out], tensor.Dims.ToArray());
                Assert.Equal(transB ? 0 : 1, axis);
                Assert.Equal(expectedScales, scales);
                Assert.Equal(Array.ConvertAll(expectedInNodeLayout, v => (byte)v), tensor.RawData.ToByteArray());
            }
        }
        finally
        {
            ComputeThreads.Set(null);
        }
    }

    private static sbyte[] TransposedBytes(sbyte[] qInOut)
    {
        var t = new sbyte[qInOut.Length];
        for (var i = 0; i < In; i++)
            for (var j = 0; j < Out; j++) t[j * In + i] = qInOut[i * Out + j];
        return t;
    }
}

using ModelCompiler.Onnx;
using ModelCompiler.Onnx.Proto;
using ModelCompiler.Quantization;
using ModelCompiler.Runtime;

namespace ModelCompiler.Transforms;

/// <summary>
/// Symmetric int8 weights, one scale per output channel: scale_j = max_i |W[i,j]| / 127 (1 for an all-zero channel),
/// q = round_half_even(W / scale_j) clamped to [-127, 127]. Both passes work on the weight as it is stored and split
/// its rows across <see cref="ComputeThreads"/>: every element and every channel maximum is computed the same way
/// whatever the split, so the bytes do not depend on the thread count.
/// </summary>
public static class Int8Weights
{
    /// <summary>The per-channel scales of a stored [rows, cols] matrix whose channels are its rows or its columns.</summary>
    public static float[] Scales(float[] w, int rows, int cols, bool channelsAreRows)
    {
        var scales = new float[channelsAreRows ? rows : cols];
        if (channelsAreRows)
        {
            ForRowBlocks(rows, cols, (r0, r1) =>
            {
                for (var r = r0; r < r1; r++)
                {
                    var max = 0f;
                    for (var c = 0; c < cols; c++) max = Math.Max(max, MathF.Abs(w[(long)r * cols + c]));
                    scales[r] = max;
                }
            });
        }
        else
        {
            var gate = new object();
            ForRowBlocks(rows, cols, (r0, r1) =>
            {
                var local = new float[cols];
                for (var r = r0; r < r1; r++)
                    for (var c = 0; c < cols; c++) local[c] = Math.Max(local[c], MathF.Abs(w[(long)r * cols + c]));
                lock (gate) // max is exact and order-free: merging blocks in any order gives the same maxima
                    for (var c = 0; c < cols; c++) scales[c] = Math.Max(scales[c], local[c]);
            });
        }
        for (var j = 0; j < scales.Length; j++) scales[j] = scales[j] > 0 ? scales[j] / 127f : 1f;
        return scales;
    }

    /// <summary>The int8 values of the stored matrix in its own layout, as the bytes of an INT8 tensor.</summary>
    public static byte[] Quantize(float[] w, int rows, int cols, bool channelsAreRows, float[] scales)
    {
        var q = new byte[w.Length];
        ForRowBlocks(rows, cols, (r0, r1) =>
        {
            for (var r = r0; r < r1; r++)
            {
                var row = (long)r * cols;
                for (var c = 0; c < cols; c++)
                {
                    var s = scales[channelsAreRows ? r : c];
                    q[row + c] = (byte)(sbyte)Math.Clamp((int)MathF.Round(w[row + c] / s, MidpointRounding.ToEven), -127, 127);
                }
            }
        });
        return q;
    }

    /// <summary>
    /// A layer's weight as int8 in the layout its node reads once the DequantizeLinear replaces the weight's path
    /// ([out, in] for Gemm with transB, else [in, out]), and its scales. The scales are computed now (one read of the
    /// weight); the int8 bytes are a <see cref="ComputedTensorBytes"/>, quantized again from the fp32 weight when the
    /// model is saved, so a transformed model holds no int8 weight in memory and the save writes them one at a time.
    /// </summary>
    public static (TensorProto Values, float[] Scales, long Axis) ForLayer(OnnxGraph graph, QuantizableLayer layer, string name)
    {
        var source = graph.Initializer(layer.WeightInitializer)!;
        var rows = (int)source.Dims[0];
        var cols = (int)source.Dims[1];
        // Stored [out, in] when read through a Transpose, or by a Gemm with transB (but not both).
        var channelsAreRows = layer.WeightTransposed ^ layer.GemmTransB;
        var scales = Scales(TensorData.ReadFloats(source), rows, cols, channelsAreRows);
        // The node reads the stored layout unless a Transpose sat in between, which the DequantizeLinear replaces.
        var transpose = layer.WeightTransposed;
        long[] dims = layer.GemmTransB ? [layer.OutFeatures, layer.InFeatures] : [layer.InFeatures, layer.OutFeatures];
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int8, Dims = { dims } };
        tensor.RawData = new ComputedTensorBytes(checked(rows * cols), () =>
        {
            var q = Quantize(TensorData.ReadFloats(source), rows, cols, channelsAreRows, scales);
            return transpose ? Transpose(q, rows, cols) : q;
        }).AsByteString();
        return (tensor, scales, layer.GemmTransB ? 0 : 1); // the output-channel axis of the layout the node reads
    }

    /// <summary>Row-major [rows, cols] → [cols, rows], in cache-sized tiles split across the compute threads.</summary>
    public static T[] Transpose<T>(T[] m, int rows, int cols)
    {
        const int Tile = 64;
        var t = new T[m.Length];
        var tiles = (rows + Tile - 1) / Tile;
        Parallel.For(0, tiles, Options, tile =>
        {
            var r0 = tile * Tile;
            var r1 = Math.Min(rows, r0 + Tile);
            for (var c0 = 0; c0 < cols; c0 += Tile)
            {
                var c1 = Math.Min(cols, c0 + Tile);
                for (var r = r0; r < r1; r++)
                    for (var c = c0; c < c1; c++)
                        t[(long)c * rows + r] = m[(long)r * cols + c];
            }
        });
        return t;
    }

    private static ParallelOptions Options => new() { MaxDegreeOfParallelism = ComputeThreads.Count };

    /// <summary>Runs <paramref name="body"/> over blocks of rows (about 1 M elements each) on the compute threads.</summary>
    private static void ForRowBlocks(int rows, int cols, Action<int, int> body)
    {
        var perBlock = Math.Max(1, (1 << 20) / Math.Max(1, cols));
        var blocks = (rows + perBlock - 1) / perBlock;
        if (blocks <= 1) { body(0, rows); return; }
        Parallel.For(0, blocks, Options, b => body(b * perBlock, Math.Min(rows, (b + 1) * perBlock)));
    }
}

using System.Runtime.InteropServices;
using Google.Protobuf;
using ModelCompiler.Onnx.Proto;
using DataType = ModelCompiler.Onnx.Proto.TensorProto.Types.DataType;

namespace ModelCompiler.Onnx;

/// <summary>Creates initializers and reads their values. Data is stored little-endian in <c>raw_data</c>.</summary>
public static class TensorData
{
    public static int ElementSize(DataType type) => type switch
    {
        DataType.Float or DataType.Int32 or DataType.Uint32 => 4,
        DataType.Double or DataType.Int64 or DataType.Uint64 or DataType.Complex64 => 8,
        DataType.Float16 or DataType.Bfloat16 or DataType.Int16 or DataType.Uint16 => 2,
        DataType.Int8 or DataType.Uint8 or DataType.Bool => 1,
        DataType.Complex128 => 16,
        _ => -1,
    };

    public static long ElementCount(TensorProto t)
    {
        long n = 1;
        foreach (var d in t.Dims) n *= d;
        return n;
    }

    public static TensorProto Create<T>(string name, ReadOnlySpan<T> values, ReadOnlySpan<long> dims, DataType type) where T : unmanaged
    {
        var t = new TensorProto { Name = name, DataType = (int)type };
        foreach (var d in dims) t.Dims.Add(d);
        t.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values));
        return t;
    }

    public static TensorProto Floats(string name, ReadOnlySpan<float> values, params long[] dims) => Create(name, values, dims, DataType.Float);
    public static TensorProto Halves(string name, ReadOnlySpan<Half> values, params long[] dims) => Create(name, values, dims, DataType.Float16);
    public static TensorProto Int64s(string name, ReadOnlySpan<long> values, params long[] dims) => Create(name, values, dims, DataType.Int64);
    public static TensorProto Int8s(string name, ReadOnlySpan<sbyte> values, params long[] dims) => Create(name, values, dims, DataType.Int8);
    public static TensorProto UInt8s(string name, ReadOnlySpan<byte> values, params long[] dims) => Create(name, values, dims, DataType.Uint8);

    public static TensorProto Scalar(string name, float value) => Floats(name, [value]);
    public static TensorProto Scalar(string name, long value) => Int64s(name, [value]);

    /// <summary>Reads any float-like tensor (FLOAT, FLOAT16, BFLOAT16, DOUBLE) as float32.</summary>
    public static float[] ReadFloats(TensorProto t)
    {
        var type = (DataType)t.DataType;
        if (t.DataLocation == TensorProto.Types.DataLocation.External)
            throw new InvalidOperationException($"tensor '{t.Name}' still refers to external data; load the model with OnnxModelIO.Load.");
        var raw = t.RawData.Span;
        switch (type)
        {
            case DataType.Float:
                return raw.Length > 0 ? MemoryMarshal.Cast<byte, float>(raw).ToArray() : t.FloatData.ToArray();
            case DataType.Float16:
                if (raw.Length > 0)
                {
                    var h = MemoryMarshal.Cast<byte, Half>(raw);
                    var r = new float[h.Length];
                    for (var i = 0; i < h.Length; i++) r[i] = (float)h[i];
                    return r;
                }
                return t.Int32Data.Select(v => (float)BitConverter.UInt16BitsToHalf((ushort)v)).ToArray();
            case DataType.Bfloat16: // the top 16 bits of an fp32
                return (raw.Length > 0 ? MemoryMarshal.Cast<byte, ushort>(raw).ToArray() : t.Int32Data.Select(v => (ushort)v).ToArray())
                    .Select(b => BitConverter.UInt32BitsToSingle((uint)b << 16)).ToArray();
            case DataType.Double:
                return (raw.Length > 0 ? MemoryMarshal.Cast<byte, double>(raw).ToArray() : t.DoubleData.ToArray()).Select(d => (float)d).ToArray();
            default:
                throw new InvalidOperationException($"tensor '{t.Name}' has type {type}, not a floating-point type.");
        }
    }

    public static long[] ReadInt64s(TensorProto t)
    {
        var type = (DataType)t.DataType;
        var raw = t.RawData.Span;
        return type switch
        {
            DataType.Int64 => raw.Length > 0 ? MemoryMarshal.Cast<byte, long>(raw).ToArray() : t.Int64Data.ToArray(),
            DataType.Int32 => (raw.Length > 0 ? MemoryMarshal.Cast<byte, int>(raw).ToArray() : t.Int32Data.ToArray()).Select(v => (long)v).ToArray(),
            _ => throw new InvalidOperationException($"tensor '{t.Name}' has type {type}, not an integer type."),
        };
    }

    /// <summary>Row-major [rows, cols] → [cols, rows].</summary>
    public static T[] Transpose<T>(T[] m, int rows, int cols)
    {
        if (m.Length != rows * cols) throw new ArgumentException($"{m.Length} values are not {rows}x{cols}", nameof(m));
        var t = new T[m.Length];
        for (var r = 0; r < rows; r++)
            for (var c = 0; c < cols; c++)
                t[c * rows + r] = m[r * cols + c];
        return t;
    }

    /// <summary>Raw bytes of an int8/uint8 tensor.</summary>
    public static byte[] ReadBytes(TensorProto t) =>
        t.RawData.Length > 0 ? t.RawData.ToByteArray() : t.Int32Data.Select(v => (byte)v).ToArray();
}

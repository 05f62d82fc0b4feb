using System.Globalization;
using ModelCompiler.Onnx.Proto;
using DataType = ModelCompiler.Onnx.Proto.TensorProto.Types.DataType;

namespace ModelCompiler.Onnx;

/// <summary>
/// Checks every tensor that carries data (initializers, Constant and attribute tensors, subgraphs included) before
/// anything reads it: dims ≥ 0, element count and byte size without overflow, a data type modelc knows, and data of
/// exactly dims × element size (inline raw data, typed data, or the declared length of external data). A model that
/// fails is bad input (<see cref="Invalid"/>, or <see cref="ExternalDataInvalid"/> for a declared external length,
/// naming the tensor) instead of an out-of-range or overflow exception
/// deep inside a later stage.
/// </summary>
public static class InitializerGuard
{
    /// <summary>A tensor whose shape, type or data length is impossible.</summary>
    public const string Invalid = "MC1009";

    /// <summary>External data that does not fit its tensor (the code the loader uses for every external-data problem).</summary>
    public const string ExternalDataInvalid = "MC1003";

    /// <summary>Throws <see cref="Invalid"/> for the first impossible tensor of <paramref name="graph"/>.</summary>
    public static void Check(GraphProto graph, string modelPath)
    {
        foreach (var tensor in OnnxModelIO.AllTensors(graph)) Check(tensor, modelPath);
    }

    /// <summary>Throws <see cref="Invalid"/> when <paramref name="tensor"/> is impossible; returns its size in bytes of data (0 for strings).</summary>
    public static long Check(TensorProto tensor, string modelPath)
    {
        var type = (DataType)tensor.DataType;
        if (type == DataType.Undefined || !Enum.IsDefined(type))
            throw Bad(tensor, modelPath, $"has data type {tensor.DataType}, which is not a tensor element type modelc supports (FLOAT … BFLOAT16)");

        long count = 1;
        foreach (var d in tensor.Dims)
        {
            if (d < 0) throw Bad(tensor, modelPath, $"has a negative dimension in {Shape(tensor)}");
            if (!TryMultiply(count, d, out count)) throw Bad(tensor, modelPath, $"has dims {Shape(tensor)} whose element count overflows");
        }

        if (type == DataType.String)
        {
            if (tensor.DataLocation == TensorProto.Types.DataLocation.External || tensor.RawData.Length > 0)
                throw Bad(tensor, modelPath, "is a STRING tensor stored as raw or external data; strings live in string_data");
            RequireCount(tensor, modelPath, tensor.StringData.Count, count, "string_data");
            return 0;
        }

        var elementSize = TensorData.ElementSize(type);
        if (!TryMultiply(count, elementSize, out var bytes))
            throw Bad(tensor, modelPath, $"has dims {Shape(tensor)} whose size in bytes overflows");

        if (tensor.DataLocation == TensorProto.Types.DataLocation.External)
        {
            if (bytes > Array.MaxLength)
                throw Bad(tensor, modelPath, $"needs {bytes} bytes ({Shape(tensor)} × {elementSize}), more than one tensor can hold in memory");
            var declared = tensor.ExternalData.LastOrDefault(kv => kv.Key == "length")?.Value;
            if (declared is not null && long.TryParse(declared, NumberStyles.None, CultureInfo.InvariantCulture, out var length) && length != bytes)
                throw Bad(tensor, modelPath, $"declares external data length {length}, but {Shape(tensor)} × {elementSize} bytes is {bytes}", ExternalDataInvalid);
            return bytes;
        }

        if (tensor.RawData.Length > 0 || count == 0)
        {
            if (tensor.RawData.Length != bytes)
                throw Bad(tensor, modelPath, $"has {tensor.RawData.Length} bytes of raw data, but {Shape(tensor)} × {elementSize} bytes is {bytes}");
            return bytes;
        }

        var (field, values, perElement) = TypedData(tensor, type);
        RequireCount(tensor, modelPath, values, count * perElement, field);
        return bytes;
    }

    /// <summary>The typed field ONNX stores <paramref name="type"/> in when there is no raw data, and values per element.</summary>
    private static (string Field, long Values, int PerElement) TypedData(TensorProto t, DataType type) => type switch
    {
        DataType.Float => ("float_data", t.FloatData.Count, 1),
        DataType.Complex64 => ("float_data", t.FloatData.Count, 2),
        DataType.Double => ("double_data", t.DoubleData.Count, 1),
        DataType.Complex128 => ("double_data", t.DoubleData.Count, 2),
        DataType.Int64 => ("int64_data", t.Int64Data.Count, 1),
        DataType.Uint32 or DataType.Uint64 => ("uint64_data", t.Uint64Data.Count, 1),
        _ => ("int32_data", t.Int32Data.Count, 1), // INT32, INT16, INT8, UINT16, UINT8, BOOL, FLOAT16, BFLOAT16
    };

    private static void RequireCount(TensorProto tensor, string modelPath, long actual, long expected, string field)
    {
        if (actual != expected)
            throw Bad(tensor, modelPath, actual == 0
                ? $"has no data: {Shape(tensor)} needs {expected} values and there is neither raw_data nor {field}"
                : $"has {actual} values in {field}, but {Shape(tensor)} needs {expected}");
    }

    private static bool TryMultiply(long a, long b, out long product)
    {
        try { product = checked(a * b); return true; }
        catch (OverflowException) { product = 0; return false; }
    }

    private static string Shape(TensorProto t) => "[" + string.Join(", ", t.Dims.Select(d => d.ToString(CultureInfo.InvariantCulture))) + "]";

    private static ModelCompilerException Bad(TensorProto tensor, string modelPath, string problem, string code = Invalid)
    {
        return new ModelCompilerException(code,
            $"tensor '{ModelGuard.Shorten(tensor.Name)}' {problem}; the model file is corrupt or was written by a broken exporter (re-export it).", modelPath);
    }
}

namespace ModelCompiler.Generator.Parsing
{
    /// <summary>The manifest's element type names and what they are in C# and in ONNX Runtime's managed API.</summary>
    internal static class ElementTypes
    {
        public static bool IsKnown(string elementType) => CSharpType(elementType) != null;

        /// <summary>The C# element type, fully qualified where it is not a keyword; null when unknown.</summary>
        public static string? CSharpType(string elementType) => elementType switch
        {
            "float32" => "float",
            "float16" => "global::Microsoft.ML.OnnxRuntime.Float16",
            "float64" => "double",
            "bfloat16" => "global::Microsoft.ML.OnnxRuntime.BFloat16",
            "int8" => "sbyte",
            "uint8" => "byte",
            "int16" => "short",
            "uint16" => "ushort",
            "int32" => "int",
            "uint32" => "uint",
            "int64" => "long",
            "uint64" => "ulong",
            "bool" => "bool",
            "string" => "string",
            _ => null,
        };

        /// <summary>The member of <c>Microsoft.ML.OnnxRuntime.Tensors.TensorElementType</c>.</summary>
        public static string? OrtElementType(string elementType) => elementType switch
        {
            "float32" => "Float",
            "float16" => "Float16",
            "float64" => "Double",
            "bfloat16" => "BFloat16",
            "int8" => "Int8",
            "uint8" => "UInt8",
            "int16" => "Int16",
            "uint16" => "UInt16",
            "int32" => "Int32",
            "uint32" => "UInt32",
            "int64" => "Int64",
            "uint64" => "UInt64",
            "bool" => "Bool",
            "string" => "String",
            _ => null,
        };

        public static bool IsFloatingPoint(string elementType)
            => elementType == "float32" || elementType == "float16" || elementType == "bfloat16" || elementType == "float64";

        public static bool IsTokenInteger(string elementType) => elementType == "int64" || elementType == "int32";
    }
}

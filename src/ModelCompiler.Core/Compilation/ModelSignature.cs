using ModelCompiler.Onnx;
using ModelCompiler.Onnx.Proto;
using DataType = ModelCompiler.Onnx.Proto.TensorProto.Types.DataType;

namespace ModelCompiler.Compilation;

public sealed record TensorSignature(string Name, string ElementType, IReadOnlyList<object?> Shape);

/// <summary>Decoder facts the generated wrapper needs for KV-cache generation.</summary>
public sealed record DecoderInfo(int Layers, long KvHeads, long HeadDim, long VocabSize, int? BosTokenId, int? EosTokenId, int? MaxPositions);

/// <summary>The graph's inputs and outputs as the manifest records them.</summary>
public sealed record ModelSignature(IReadOnlyList<TensorSignature> Inputs, IReadOnlyList<TensorSignature> Outputs, DecoderInfo? Decoder)
{
    public static ModelSignature Of(ModelProto model)
    {
        var initializers = new HashSet<string>(model.Graph.Initializer.Select(i => i.Name), StringComparer.Ordinal);
        var inputs = model.Graph.Input.Where(i => !initializers.Contains(i.Name)).Select(Describe).ToList();
        var outputs = model.Graph.Output.Select(Describe).ToList();
        return new ModelSignature(inputs, outputs, DetectDecoder(model, inputs, outputs));
    }

    public static string ElementTypeName(int type) => (DataType)type switch
    {
        DataType.Float => "float32", DataType.Float16 => "float16", DataType.Double => "float64", DataType.Bfloat16 => "bfloat16",
        DataType.Int8 => "int8", DataType.Uint8 => "uint8", DataType.Int16 => "int16", DataType.Uint16 => "uint16",
        DataType.Int32 => "int32", DataType.Uint32 => "uint32", DataType.Int64 => "int64", DataType.Uint64 => "uint64",
        DataType.Bool => "bool", DataType.String => "string", _ => "unknown",
    };

    private static TensorSignature Describe(ValueInfoProto v)
    {
        var tensor = v.Type?.TensorType;
        var shape = tensor?.Shape?.Dim.Select(d => d.ValueCase switch
        {
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue => (object?)d.DimValue,
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam => d.DimParam,
            _ => null,
        }).ToList() ?? [];
        return new TensorSignature(v.Name, tensor is null ? "unknown" : ElementTypeName(tensor.ElemType), shape);
    }

    private static DecoderInfo? DetectDecoder(ModelProto model, List<TensorSignature> inputs, List<TensorSignature> outputs)
    {
        if (!inputs.Any(i => i.Name == "input_ids")) return null;
        var layers = 0;
        while (inputs.Any(i => i.Name == $"past_key_values.{layers}.key") && outputs.Any(o => o.Name == $"present.{layers}.key")) layers++;
        var logits = outputs.FirstOrDefault(o => o.Name == "logits");
        if (layers == 0 || logits is null) return null;
        var past = inputs.First(i => i.Name == "past_key_values.0.key").Shape;
        if (past.Count != 4 || past[1] is not long kvHeads || past[3] is not long headDim) return null;
        var vocab = logits.Shape.Count == 3 && logits.Shape[2] is long v ? v : -1;
        int? Meta(string key) => model.MetadataProps.FirstOrDefault(m => m.Key == key) is { } e && int.TryParse(e.Value, out var n) ? n : null;
        return new DecoderInfo(layers, kvHeads, headDim, vocab,
            Meta(Import.Llama2cImporter.MetadataKeys.BosTokenId), Meta(Import.Llama2cImporter.MetadataKeys.EosTokenId),
            Meta(Import.Llama2cImporter.MetadataKeys.MaxPositions));
    }
}

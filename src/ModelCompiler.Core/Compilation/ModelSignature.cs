using ModelCompiler.Onnx.Proto;
using ModelCompiler.Decoding;
using Microsoft.ML.OnnxRuntime.Tensors;
using DataType = ModelCompiler.Onnx.Proto.TensorProto.Types.DataType;

namespace ModelCompiler.Compilation;

public sealed record TensorSignature(string Name, string ElementType, IReadOnlyList<object?> Shape);

/// <summary>
/// Decoder facts the generated wrapper needs for KV-cache generation: the summary keys of the manifest's
/// <c>decoder</c> object (<see cref="Layers"/> … <see cref="MaxPositions"/>) and the <see cref="Contract"/> they were read from.
/// </summary>
public sealed record DecoderInfo(int Layers, long KvHeads, long HeadDim, long VocabSize, int? BosTokenId, int? EosTokenId, int? MaxPositions)
{
    /// <summary>The decoder contract read from the graph (names, types, states); null only for hand-built infos.</summary>
    public DecoderContract? Contract { get; init; }

    /// <summary>Every token that ends generation (the manifest's <c>eos_token_ids</c>); <see cref="EosTokenId"/> is the first.</summary>
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];
}

/// <summary>The graph's inputs and outputs as the manifest records them.</summary>
public sealed record ModelSignature(IReadOnlyList<TensorSignature> Inputs, IReadOnlyList<TensorSignature> Outputs, DecoderInfo? Decoder)
{
    /// <summary>
    /// The signature of <paramref name="model"/>. The decoder facts come from the graph (<see cref="DecoderContract"/>),
    /// the model's metadata (llama2.c imports) and <c>genai_config.json</c> / <c>config.json</c> in
    /// <paramref name="configFolder"/>, the folder of the model that was compiled (MC1048 when they contradict the graph).
    /// </summary>
    public static ModelSignature Of(ModelProto model, string? configFolder = null, string? modelPath = null)
    {
        var initializers = new HashSet<string>(model.Graph.Initializer.Select(i => i.Name), StringComparer.Ordinal);
        var graphInputs = model.Graph.Input.Where(i => !initializers.Contains(i.Name)).ToList();
        var inputs = graphInputs.Select(Describe).ToList();
        var outputs = model.Graph.Output.Select(Describe).ToList();
        return new ModelSignature(inputs, outputs, DetectDecoder(model, graphInputs, configFolder, modelPath));
    }

    public static string ElementTypeName(int type) => (DataType)type switch
    {
        DataType.Float => "float32", DataType.Float16 => "float16", DataType.Double => "float64", DataType.Bfloat16 => "bfloat16",
        DataType.Int8 => "int8", DataType.Uint8 => "uint8", DataType.Int16 => "int16", DataType.Uint16 => "uint16",
        DataType.Int32 => "int32", DataType.Uint32 => "uint32", DataType.Int64 => "int64", DataType.Uint64 => "uint64",
        DataType.Bool => "bool", DataType.String => "string", _ => "unknown",
    };

    /// <summary>ORT's element type under the manifest's name (the enums share ONNX's numbering).</summary>
    public static string ElementTypeName(TensorElementType type) => ElementTypeName((int)type);

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

    /// <summary>Name, element type and dimensions (-1: symbolic or unknown) as <see cref="DecoderContract.Of(IReadOnlyList{ValueTuple{string, TensorElementType, int[]}}, IReadOnlyList{ValueTuple{string, TensorElementType, int[]}}, string?)"/> reads them.</summary>
    private static (string Name, TensorElementType Type, int[] Dims) Port(ValueInfoProto v)
    {
        var tensor = v.Type?.TensorType;
        var dims = tensor?.Shape?.Dim.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && d.DimValue is > 0 and <= int.MaxValue
            ? (int)d.DimValue : -1).ToArray() ?? [];
        return (v.Name, (TensorElementType)(tensor?.ElemType ?? 0), dims);
    }

    /// <summary>The contract of a decoder with a key/value cache; null for any other graph (no generation members then).</summary>
    public static DecoderContract? ContractOf(ModelProto model)
    {
        var initializers = new HashSet<string>(model.Graph.Initializer.Select(i => i.Name), StringComparer.Ordinal);
        return ContractOf(model, model.Graph.Input.Where(i => !initializers.Contains(i.Name)).ToList());
    }

    private static DecoderContract? ContractOf(ModelProto model, List<ValueInfoProto> graphInputs)
    {
        if (!graphInputs.Any(i => i.Name == "input_ids")) return null;
        try
        {
            var contract = DecoderContract.Of(graphInputs.Select(Port).ToList(), model.Graph.Output.Select(Port).ToList(), null);
            return contract.FirstKv is null ? null : contract;
        }
        catch (ModelCompilerException e) when (e.Code == "MC1040")
        {
            return null; // not a decoder the contract can drive: the manifest says "decoder": null, as for any other graph
        }
    }

    private static DecoderInfo? DetectDecoder(ModelProto model, List<ValueInfoProto> graphInputs, string? configFolder, string? modelPath)
    {
        var contract = ContractOf(model, graphInputs);
        if (contract is null) return null;
        var kv = contract.FirstKv!;
        var (kvHeads, headDim) = kv.Kind == DecoderStateKind.PackedKv
            ? (kv.InitialShape[2], kv.InitialShape[4])
            : (kv.InitialShape[1], kv.InitialShape[3]);
        int? Meta(string key) => model.MetadataProps.FirstOrDefault(m => m.Key == key) is { } e && int.TryParse(e.Value, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : null;
        var config = configFolder is null ? DecoderConfig.None : DecoderConfig.Read(configFolder);
        config.Check(contract, kvHeads, headDim, modelPath);

        var bos = Meta(Import.Llama2cImporter.MetadataKeys.BosTokenId) ?? config.BosTokenId;
        var metaEos = Meta(Import.Llama2cImporter.MetadataKeys.EosTokenId);
        IReadOnlyList<int> eos = metaEos is { } m ? [m] : config.EosTokenIds;
        var maxPositions = Meta(Import.Llama2cImporter.MetadataKeys.MaxPositions) ?? config.ContextLength;
        return new DecoderInfo(contract.Layers, kvHeads, headDim, contract.VocabSize, bos, eos.Count > 0 ? eos[0] : null, maxPositions)
        {
            Contract = contract,
            EosTokenIds = eos,
        };
    }
}

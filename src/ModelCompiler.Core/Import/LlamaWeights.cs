namespace ModelCompiler.Import;

/// <summary>The tensors a LLaMA decoder is built from (<see cref="Llama2cImporter.Build(ILlamaWeights, string?, bool, int)"/>).</summary>
public enum LlamaTensor
{
    Embedding, RmsAtt, Wq, Wk, Wv, Wo, RmsFfn, W1, W2, W3, RmsFinal, RopeCos, RopeSin,
    /// <summary>The untied classifier (asked for only when <see cref="Llama2cConfig.SharedClassifier"/> is false).</summary>
    Classifier,
}

/// <summary>
/// The weights of a LLaMA decoder, one tensor at a time, as the importer stores them: fp32 little-endian bytes in the
/// ONNX layout. Projections are MatMul's [in][out] (gate/up [dim][hidden], down [hidden][dim], k/v [dim][kv_dim]), the
/// embedding [vocab][dim], the untied classifier [dim][vocab], norms [dim], rotary tables [max_seq][head_dim/2].
/// A source may be asked for the same tensor more than once, from any thread, and must give the same bytes each time.
/// </summary>
public interface ILlamaWeights
{
    Llama2cConfig Config { get; }

    /// <summary>The bytes of <paramref name="tensor"/> of <paramref name="layer"/> (0 for the tensors outside the layers), in a new array.</summary>
    byte[] Bytes(LlamaTensor tensor, int layer);
}

using System.Runtime.InteropServices;

namespace ModelCompiler.Import;

/// <summary>The seven int32 header fields of a llama2.c checkpoint.</summary>
public sealed record Llama2cConfig(int Dim, int HiddenDim, int Layers, int Heads, int KvHeads, int VocabSize, int MaxSeqLen, bool SharedClassifier)
{
    public int HeadDim => Dim / Heads;
    public int KvDim => KvHeads * HeadDim;
}

/// <summary>A llama2.c fp32 checkpoint (karpathy/llama2.c <c>run.c</c> format), weights in [out][in] order.</summary>
public sealed class Llama2cCheckpoint
{
    private const int HeaderBytes = 7 * sizeof(int);
    // Far above any real llama2.c export, far below sizes that would make us allocate nonsense.
    internal const int MaxDimension = 1 << 16;
    internal const int MaxLayers = 1024;
    internal const int MaxVocab = 1 << 22;
    internal const int MaxSequence = 1 << 20;

    public required Llama2cConfig Config { get; init; }
    public required float[] TokenEmbedding { get; init; }   // [vocab][dim]
    public required float[][] RmsAtt { get; init; }          // [layer][dim]
    public required float[][] Wq { get; init; }              // [layer][dim*dim]
    public required float[][] Wk { get; init; }              // [layer][kv_dim*dim]
    public required float[][] Wv { get; init; }
    public required float[][] Wo { get; init; }              // [layer][dim*dim]
    public required float[][] RmsFfn { get; init; }
    public required float[][] W1 { get; init; }              // gate [layer][hidden*dim]
    public required float[][] W2 { get; init; }              // down [layer][dim*hidden]
    public required float[][] W3 { get; init; }              // up   [layer][hidden*dim]
    public required float[] RmsFinal { get; init; }
    public required float[] FreqCisReal { get; init; }       // [max_seq][head_dim/2]
    public required float[] FreqCisImag { get; init; }
    public required float[] Classifier { get; init; }        // [vocab][dim]; the embedding when shared

    public static Llama2cCheckpoint Load(string path)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
            throw new ModelCompilerException("MC1001", "checkpoint file not found; check the path.", full);

        using var stream = File.OpenRead(full);
        var length = stream.Length;
        if (length < HeaderBytes)
            throw new ModelCompilerException("MC1005", $"not a llama2.c checkpoint: {length} bytes is shorter than the 28-byte header.", full);

        Span<int> h = stackalloc int[7];
        stream.ReadExactly(MemoryMarshal.AsBytes(h));
        var shared = h[5] > 0;
        var config = new Llama2cConfig(h[0], h[1], h[2], h[3], h[4], h[5] == int.MinValue ? int.MaxValue : Math.Abs(h[5]), h[6], shared);
        Validate(config, h, full);

        long dim = config.Dim, hidden = config.HiddenDim, layers = config.Layers, vocab = config.VocabSize, kvDim = config.KvDim;
        long floats = vocab * dim + layers * (dim + dim * dim + 2 * kvDim * dim + dim * dim + dim + 3 * hidden * dim)
                      + dim + config.MaxSeqLen * (long)config.HeadDim + (shared ? 0 : vocab * dim);
        var expected = HeaderBytes + floats * sizeof(float);
        if (length < expected)
            throw new ModelCompilerException("MC1005",
                $"truncated llama2.c checkpoint: the header (dim {config.Dim}, hidden {config.HiddenDim}, layers {config.Layers}, heads {config.Heads}/{config.KvHeads}, vocab {config.VocabSize}, max_seq {config.MaxSeqLen}) needs {expected} bytes, the file has {length}.", full);

        float[] Read(long count)
        {
            var a = new float[count];
            stream.ReadExactly(MemoryMarshal.AsBytes(a.AsSpan()));
            return a;
        }
        float[][] PerLayer(long count) => Enumerable.Range(0, config.Layers).Select(_ => Read(count)).ToArray();

        var embedding = Read(vocab * dim);
        var rmsAtt = PerLayer(dim);
        var wq = PerLayer(dim * dim);
        var wk = PerLayer(kvDim * dim);
        var wv = PerLayer(kvDim * dim);
        var wo = PerLayer(dim * dim);
        var rmsFfn = PerLayer(dim);
        var w1 = PerLayer(hidden * dim);
        var w2 = PerLayer(dim * hidden);
        var w3 = PerLayer(hidden * dim);
        var rmsFinal = Read(dim);
        var half = (long)config.MaxSeqLen * config.HeadDim / 2;
        var freqReal = Read(half);
        var freqImag = Read(half);
        var classifier = shared ? embedding : Read(vocab * dim);

        return new Llama2cCheckpoint
        {
            Config = config, TokenEmbedding = embedding, RmsAtt = rmsAtt, Wq = wq, Wk = wk, Wv = wv, Wo = wo,
            RmsFfn = rmsFfn, W1 = w1, W2 = w2, W3 = w3, RmsFinal = rmsFinal,
            FreqCisReal = freqReal, FreqCisImag = freqImag, Classifier = classifier,
        };
    }

    private static void Validate(Llama2cConfig c, ReadOnlySpan<int> h, string file)
    {
        string? problem = null;
        if (c.Dim <= 0 || c.Dim > MaxDimension) problem = $"dim {h[0]}";
        else if (c.HiddenDim <= 0 || c.HiddenDim > 8 * MaxDimension) problem = $"hidden_dim {h[1]}";
        else if (c.Layers <= 0 || c.Layers > MaxLayers) problem = $"n_layers {h[2]}";
        else if (c.Heads <= 0 || c.Heads > c.Dim || c.Dim % c.Heads != 0) problem = $"n_heads {h[3]} (must divide dim {c.Dim})";
        else if (c.KvHeads <= 0 || c.KvHeads > c.Heads || c.Heads % c.KvHeads != 0) problem = $"n_kv_heads {h[4]} (must divide n_heads {c.Heads})";
        else if (h[5] == 0 || c.VocabSize > MaxVocab) problem = $"vocab_size {h[5]}";
        else if (c.MaxSeqLen <= 0 || c.MaxSeqLen > MaxSequence) problem = $"max_seq_len {h[6]}";
        else if (c.HeadDim % 2 != 0) problem = $"head dimension {c.HeadDim} (rotary embeddings need an even head size)";
        if (problem is not null)
            throw new ModelCompilerException("MC1005", $"not a valid llama2.c checkpoint: header has an impossible {problem}.", file);
    }
}

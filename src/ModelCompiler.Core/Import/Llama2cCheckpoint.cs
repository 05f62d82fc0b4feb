using System.Runtime.InteropServices;

namespace ModelCompiler.Import;

/// <summary>The seven int32 header fields of a llama2.c checkpoint.</summary>
public sealed record Llama2cConfig(int Dim, int HiddenDim, int Layers, int Heads, int KvHeads, int VocabSize, int MaxSeqLen, bool SharedClassifier)
{
    public int HeadDim => Dim / Heads;
    public int KvDim => KvHeads * HeadDim;
}

/// <summary>A llama2.c fp32 checkpoint (karpathy/llama2.c <c>run.c</c> format), weights in [out][in] order.</summary>
public sealed class Llama2cCheckpoint : ILlamaWeights
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

    /// <summary>Reads the whole checkpoint into memory.</summary>
    public static Llama2cCheckpoint Load(string path)
    {
        var full = Path.GetFullPath(path);
        using var stream = OpenChecked(full, out var config);
        long dim = config.Dim, hidden = config.HiddenDim, kvDim = config.KvDim, vocab = config.VocabSize;
        var shared = config.SharedClassifier;

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

    /// <summary>
    /// The checkpoint as a weight source that holds nothing: each tensor is read from the file when asked for
    /// (<see cref="Llama2cImporter.Import"/> streams a checkpoint this way). The header and the file's length are checked
    /// now; do not change the file while the source is in use.
    /// </summary>
    public static ILlamaWeights Open(string path)
    {
        var full = Path.GetFullPath(path);
        using var stream = OpenChecked(full, out var config);
        return new FileWeights(full, config);
    }

    /// <summary>Opens the file after the header, checked and its length enough for what it declares (MC1001, MC1005).</summary>
    private static FileStream OpenChecked(string full, out Llama2cConfig config)
    {
        if (!File.Exists(full))
            throw new ModelCompilerException("MC1001", "checkpoint file not found; check the path.", full);

        var stream = File.OpenRead(full);
        try
        {
            var length = stream.Length;
            if (length < HeaderBytes)
                throw new ModelCompilerException("MC1005", $"not a llama2.c checkpoint: {length} bytes is shorter than the 28-byte header.", full);

            Span<int> h = stackalloc int[7];
            stream.ReadExactly(MemoryMarshal.AsBytes(h));
            var shared = h[5] > 0;
            config = new Llama2cConfig(h[0], h[1], h[2], h[3], h[4], h[5] == int.MinValue ? int.MaxValue : Math.Abs(h[5]), h[6], shared);
            Validate(config, h, full);

            var expected = HeaderBytes + FileLayout.Of(config).Floats * sizeof(float);
            if (length < expected)
                throw new ModelCompilerException("MC1005",
                    $"truncated llama2.c checkpoint: the header (dim {config.Dim}, hidden {config.HiddenDim}, layers {config.Layers}, heads {config.Heads}/{config.KvHeads}, vocab {config.VocabSize}, max_seq {config.MaxSeqLen}) needs {expected} bytes, the file has {length}.", full);
            return stream;
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    public byte[] Bytes(LlamaTensor tensor, int layer)
    {
        var c = Config;
        return tensor switch
        {
            LlamaTensor.Embedding => Llama2cImporter.AsBytes(TokenEmbedding),
            LlamaTensor.RmsAtt => Llama2cImporter.AsBytes(RmsAtt[layer]),
            LlamaTensor.RmsFfn => Llama2cImporter.AsBytes(RmsFfn[layer]),
            LlamaTensor.RmsFinal => Llama2cImporter.AsBytes(RmsFinal),
            LlamaTensor.RopeCos => Llama2cImporter.AsBytes(FreqCisReal),
            LlamaTensor.RopeSin => Llama2cImporter.AsBytes(FreqCisImag),
            LlamaTensor.Classifier => Llama2cImporter.TransposedBytes(Classifier, c.VocabSize, c.Dim),
            _ => Llama2cImporter.TransposedBytes(Weight(tensor, layer), FileLayout.Rows(c, tensor), FileLayout.Cols(c, tensor)),
        };
    }

    private float[] Weight(LlamaTensor tensor, int layer) => tensor switch
    {
        LlamaTensor.Wq => Wq[layer],
        LlamaTensor.Wk => Wk[layer],
        LlamaTensor.Wv => Wv[layer],
        LlamaTensor.Wo => Wo[layer],
        LlamaTensor.W1 => W1[layer],
        LlamaTensor.W2 => W2[layer],
        LlamaTensor.W3 => W3[layer],
        _ => throw new ArgumentOutOfRangeException(nameof(tensor), tensor, null),
    };

    /// <summary>Where each tensor lies in a checkpoint file, in floats after the header, and its [rows][cols] as stored.</summary>
    private sealed class FileLayout
    {
        private readonly Dictionary<(LlamaTensor, int), (long Offset, long Count)> _at = [];
        public long Floats { get; private set; }

        public static FileLayout Of(Llama2cConfig c)
        {
            long dim = c.Dim, hidden = c.HiddenDim, kvDim = c.KvDim, vocab = c.VocabSize;
            var layout = new FileLayout();
            layout.Add(LlamaTensor.Embedding, 1, vocab * dim);
            foreach (var (t, n) in new[] { (LlamaTensor.RmsAtt, dim), (LlamaTensor.Wq, dim * dim), (LlamaTensor.Wk, kvDim * dim), (LlamaTensor.Wv, kvDim * dim),
                         (LlamaTensor.Wo, dim * dim), (LlamaTensor.RmsFfn, dim), (LlamaTensor.W1, hidden * dim), (LlamaTensor.W2, dim * hidden), (LlamaTensor.W3, hidden * dim) })
                layout.Add(t, c.Layers, n);
            layout.Add(LlamaTensor.RmsFinal, 1, dim);
            var half = (long)c.MaxSeqLen * c.HeadDim / 2;
            layout.Add(LlamaTensor.RopeCos, 1, half);
            layout.Add(LlamaTensor.RopeSin, 1, half);
            if (!c.SharedClassifier) layout.Add(LlamaTensor.Classifier, 1, vocab * dim);
            return layout;
        }

        private void Add(LlamaTensor tensor, int layers, long count)
        {
            for (var l = 0; l < layers; l++)
            {
                _at[(tensor, l)] = (Floats, count);
                Floats += count;
            }
        }

        public (long Offset, long Count) this[LlamaTensor tensor, int layer] =>
            _at.TryGetValue((tensor, layer), out var at) ? at : throw new ArgumentOutOfRangeException(nameof(tensor), $"{tensor} of layer {layer} is not in the checkpoint");

        /// <summary>A projection's [out] as stored ([out][in]); the classifier's vocabulary.</summary>
        public static int Rows(Llama2cConfig c, LlamaTensor t) => t switch
        {
            LlamaTensor.Wq or LlamaTensor.Wo => c.Dim,
            LlamaTensor.Wk or LlamaTensor.Wv => c.KvDim,
            LlamaTensor.W1 or LlamaTensor.W3 => c.HiddenDim,
            LlamaTensor.W2 => c.Dim,
            LlamaTensor.Classifier => c.VocabSize,
            _ => throw new ArgumentOutOfRangeException(nameof(t), t, null),
        };

        public static int Cols(Llama2cConfig c, LlamaTensor t) => t == LlamaTensor.W2 ? c.HiddenDim : c.Dim;

        public static bool Transposed(LlamaTensor t) => t is LlamaTensor.Wq or LlamaTensor.Wk or LlamaTensor.Wv or LlamaTensor.Wo
            or LlamaTensor.W1 or LlamaTensor.W2 or LlamaTensor.W3 or LlamaTensor.Classifier;
    }

    /// <summary>A checkpoint file read tensor by tensor (<see cref="Open"/>).</summary>
    private sealed class FileWeights(string path, Llama2cConfig config) : ILlamaWeights
    {
        private readonly FileLayout _layout = FileLayout.Of(config);

        public Llama2cConfig Config => config;

        public byte[] Bytes(LlamaTensor tensor, int layer)
        {
            var (offset, count) = _layout[tensor, layer];
            var bytes = new byte[count * sizeof(float)];
            using (var handle = File.OpenHandle(path))
            {
                var at = HeaderBytes + offset * sizeof(float);
                for (var read = 0; read < bytes.Length;)
                {
                    var n = RandomAccess.Read(handle, bytes.AsSpan(read), at + read);
                    if (n == 0)
                        throw new ModelCompilerException("MC1005", $"the llama2.c checkpoint became shorter while it was read ({tensor} of layer {layer}); keep it unchanged during the import.", path);
                    read += n;
                }
            }
            return FileLayout.Transposed(tensor)
                ? Llama2cImporter.TransposedBytes(MemoryMarshal.Cast<byte, float>(bytes.AsSpan()), FileLayout.Rows(config, tensor), FileLayout.Cols(config, tensor))
                : bytes;
        }
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

using System.Globalization;
using ModelCompiler.Onnx;
using ModelCompiler.Onnx.Proto;
using ModelCompiler.Tokenization;

namespace ModelCompiler.Import;

/// <summary>The shape and seed of a synthetic LLaMA decoder (<c>modelc import synthetic-llama</c>).</summary>
public sealed record SyntheticLlamaOptions
{
    public required int Dim { get; init; }
    public required int HiddenDim { get; init; }
    public required int Layers { get; init; }
    public required int Heads { get; init; }
    public required int KvHeads { get; init; }
    public required int VocabSize { get; init; }
    public int MaxSeqLen { get; init; } = 512;
    public long Seed { get; init; } = 1;
    /// <summary>Layers whose FFN gets planted activation spikes (0-based).</summary>
    public IReadOnlyList<int> SpikeLayers { get; init; } = [];
    /// <summary>Multiplies the planted units' gains (20-50 times a normal unit's at 1): milder spikes below 1.</summary>
    public double SpikeStrength { get; init; } = 1;
    /// <summary>
    /// Layers whose FFN gets heavy tails spread over every channel but few tokens (as trained models' down_proj inputs
    /// show): a few trigger tokens' embeddings lean along a direction every gate and up row of the layer reads.
    /// </summary>
    public IReadOnlyList<int> HeavyTailLayers { get; init; } = [];

    public int HeadDim => Dim / Heads;
    public int KvDim => KvHeads * HeadDim;

    /// <summary>Weight parameters (embedding, projections, norms; the tied classifier counts once; no rotary tables).</summary>
    public long Parameters =>
        (long)VocabSize * Dim + Dim + Layers * (2L * Dim + 2L * Dim * Dim + 2L * KvDim * Dim + 3L * Dim * HiddenDim);
}

/// <summary>A planted spike: these FFN hidden units of <paramref name="Layer"/> fire on most tokens and write into these residual channels.</summary>
public sealed record PlantedSpike(int Layer, int[] HiddenUnits, int[] ResidualChannels, double[] Gains);

/// <summary>
/// Generates LLaMA-style decoders with random weights scaled like an initialised model (GPT-2 style: N(0, 0.02),
/// residual-writing projections scaled by 1/sqrt(2·layers), RMSNorm weights near 1, tied classifier) and, on request,
/// "massive activations" planted in chosen layers, then builds the ONNX graph with <see cref="Llama2cImporter.Build"/>.
/// Every tensor has its own random stream derived from the seed, so the same seed gives byte-identical models and
/// planting spikes changes only the planted rows and columns.
/// </summary>
public static class SyntheticLlama
{
    public const string SourcePrefix = "synthetic-llama:";

    /// <summary>Error codes of this generator's settings.</summary>
    public static class Codes
    {
        /// <summary>A size is not positive or too large.</summary>
        public const string SizeOutOfRange = "MC1010";
        /// <summary>The sizes do not fit together (heads, kv-heads, head dimension).</summary>
        public const string ShapeMismatch = "MC1011";
        /// <summary>A spike layer is not a layer of the model.</summary>
        public const string SpikeLayerOutOfRange = "MC1012";
    }

    /// <summary>Standard deviation of embeddings and projections (GPT-2 / LLaMA initialisation).</summary>
    private const double InitStd = 0.02;
    private const double NormStd = 0.02;
    /// <summary>
    /// Every token embedding shares a component along one direction u, of this size relative to the random part
    /// (trained embeddings are anisotropic). It gives the normalised residual a consistent projection on u, which the
    /// planted units read, so they fire on most tokens; through the tied classifier it only shifts all logits equally.
    /// </summary>
    private const double CommonComponent = 0.5;
    private const double MinSpikeGain = 20, MaxSpikeGain = 50;
    /// <summary>The share of the residual stream's energy a spike layer writes into its one or two channels.</summary>
    private const double ResidualSpikeShare = 0.9;
    private const double RopeTheta = 10000.0;

    private enum Stream : ulong
    {
        Embedding = 1, Direction, RmsAtt, Wq, Wk, Wv, Wo, RmsFfn, W1, W2, W3, RmsFinal, SpikePlan, SpikeSigns, HeavyTails,
    }

    /// <summary>Checks the settings; MC1010 for sizes, MC1011 for shapes that do not fit, MC1012 for spike layers.</summary>
    public static void Validate(SyntheticLlamaOptions o)
    {
        void Size(string option, long value, long max)
        {
            if (value <= 0 || value > max)
                throw new ModelCompilerException(Codes.SizeOutOfRange,
                    value <= 0 ? $"{option} must be positive (got {value})." : $"{option} {value} is larger than the supported {max}.");
        }
        Size("--dim", o.Dim, Llama2cCheckpoint.MaxDimension);
        Size("--hidden", o.HiddenDim, 8L * Llama2cCheckpoint.MaxDimension);
        Size("--layers", o.Layers, Llama2cCheckpoint.MaxLayers);
        Size("--heads", o.Heads, Llama2cCheckpoint.MaxDimension);
        Size("--kv-heads", o.KvHeads, Llama2cCheckpoint.MaxDimension);
        Size("--vocab", o.VocabSize, Llama2cCheckpoint.MaxVocab);
        Size("--max-seq", o.MaxSeqLen, Llama2cCheckpoint.MaxSequence);
        // One tensor is one .NET array (and one protobuf bytes field under 2 GiB).
        const long maxTensor = int.MaxValue / sizeof(float);
        foreach (var (what, n) in new[] { ("the embedding (vocab x dim)", (long)o.VocabSize * o.Dim), ("an FFN projection (hidden x dim)", (long)o.HiddenDim * o.Dim) })
            if (n > maxTensor)
                throw new ModelCompilerException(Codes.SizeOutOfRange, $"{what} would have {n} values; one tensor holds at most {maxTensor}.");

        if (o.Dim % o.Heads != 0)
            throw new ModelCompilerException(Codes.ShapeMismatch, $"--dim {o.Dim} is not divisible by --heads {o.Heads}.");
        if (o.Heads % o.KvHeads != 0)
            throw new ModelCompilerException(Codes.ShapeMismatch, $"--heads {o.Heads} is not divisible by --kv-heads {o.KvHeads}.");
        if (o.HeadDim % 2 != 0)
            throw new ModelCompilerException(Codes.ShapeMismatch, $"the head dimension --dim / --heads = {o.HeadDim} is odd; rotary embeddings need an even head size.");
        if (!(o.SpikeStrength > 0) || !double.IsFinite(o.SpikeStrength) || o.SpikeStrength > 100)
            throw new ModelCompilerException(Codes.SizeOutOfRange, string.Create(CultureInfo.InvariantCulture, $"--spike-strength must be in (0, 100], not {o.SpikeStrength}."));
        foreach (var l in o.SpikeLayers.Concat(o.HeavyTailLayers))
            if (l < 0 || l >= o.Layers)
                throw new ModelCompilerException(Codes.SpikeLayerOutOfRange, $"{(o.SpikeLayers.Contains(l) ? "--spike-layers" : "--heavy-tail-layers")} names layer {l}, but the model has layers 0..{o.Layers - 1}.");
    }

    /// <summary>What the model's <c>modelcompiler.source</c> metadata says, e.g. <c>synthetic-llama:dim=288,...,seed=1,spikes=0;3</c>.</summary>
    public static string Describe(SyntheticLlamaOptions o)
    {
        var spikes = SpikeLayersOf(o);
        return string.Create(CultureInfo.InvariantCulture,
            $"{SourcePrefix}dim={o.Dim},hidden={o.HiddenDim},layers={o.Layers},heads={o.Heads},kv_heads={o.KvHeads},vocab={o.VocabSize},seed={o.Seed},spikes={(spikes.Length == 0 ? "none" : string.Join(';', spikes))}{(o.SpikeStrength == 1 ? "" : $",spike_strength={o.SpikeStrength}")}{(o.HeavyTailLayers.Count == 0 ? "" : $",heavy_tails={string.Join(';', o.HeavyTailLayers.Distinct().Order())}")}");
    }

    /// <summary>The units, channels and gains planted in each spike layer (deterministic from the seed).</summary>
    public static IReadOnlyList<PlantedSpike> PlanSpikes(SyntheticLlamaOptions o)
    {
        Validate(o);
        return SpikeLayersOf(o).Select(l => PlanSpike(o, l)).ToList();
    }

    /// <summary>The llama2.c checkpoint (fp32, [out][in] weights) the settings describe.</summary>
    public static Llama2cCheckpoint CreateCheckpoint(SyntheticLlamaOptions o)
    {
        Validate(o);
        int dim = o.Dim, hidden = o.HiddenDim, layers = o.Layers, kvDim = o.KvDim;
        var residualStd = InitStd / Math.Sqrt(2.0 * layers);

        var u = UnitDirection(o);
        var embedding = Normal(o, Stream.Embedding, 0, (long)o.VocabSize * dim, InitStd);
        var common = CommonComponent * InitStd * Math.Sqrt(dim);
        for (long t = 0; t < o.VocabSize; t++)
            for (var c = 0; c < dim; c++)
                embedding[t * dim + c] += (float)(common * u[c]);

        float[][] PerLayer(Stream s, long n, double std, double mean = 0)
        {
            var a = new float[layers][];
            Parallel.For(0, layers, l => a[l] = Normal(o, s, l, n, std, mean));
            return a;
        }
        var rmsAtt = PerLayer(Stream.RmsAtt, dim, NormStd, 1);
        var wq = PerLayer(Stream.Wq, (long)dim * dim, InitStd);
        var wk = PerLayer(Stream.Wk, (long)kvDim * dim, InitStd);
        var wv = PerLayer(Stream.Wv, (long)kvDim * dim, InitStd);
        var wo = PerLayer(Stream.Wo, (long)dim * dim, residualStd);
        var rmsFfn = PerLayer(Stream.RmsFfn, dim, NormStd, 1);
        var w1 = PerLayer(Stream.W1, (long)hidden * dim, InitStd);
        var w2 = PerLayer(Stream.W2, (long)dim * hidden, residualStd);
        var w3 = PerLayer(Stream.W3, (long)hidden * dim, InitStd);
        var rmsFinal = Normal(o, Stream.RmsFinal, 0, dim, NormStd, 1);

        foreach (var l in SpikeLayersOf(o))
            Plant(o, PlanSpike(o, l), u, w1[l], w2[l], w3[l]);
        if (o.HeavyTailLayers.Count > 0)
            PlantHeavyTails(o, embedding, w1, w3);

        var (cos, sin) = RotaryTables(o.MaxSeqLen, o.HeadDim);
        return new Llama2cCheckpoint
        {
            Config = new Llama2cConfig(dim, hidden, layers, o.Heads, o.KvHeads, o.VocabSize, o.MaxSeqLen, SharedClassifier: true),
            TokenEmbedding = embedding, RmsAtt = rmsAtt, Wq = wq, Wk = wk, Wv = wv, Wo = wo,
            RmsFfn = rmsFfn, W1 = w1, W2 = w2, W3 = w3, RmsFinal = rmsFinal,
            FreqCisReal = cos, FreqCisImag = sin, Classifier = embedding,
        };
    }

    /// <summary>The ONNX model: <see cref="Llama2cImporter.Build"/> of <see cref="CreateCheckpoint"/>, with the source metadata.</summary>
    public static ModelProto Build(SyntheticLlamaOptions o, string? tokenizerFileName = null)
    {
        // The checkpoint is ours alone: release each layer's arrays as its initializer is made, so the weights are
        // not held twice (measured: a 1.03B-parameter model generates within a 1.5x-fp32 GC heap limit).
        var model = Llama2cImporter.Build(CreateCheckpoint(o), tokenizerFileName, consumeWeights: true);
        model.MetadataProps.Add(new StringStringEntryProto { Key = Llama2cImporter.MetadataKeys.Source, Value = Describe(o) });
        return model;
    }

    /// <summary>Generates the model and writes it (and, when given, the tokenizer beside it, checked against the vocabulary).</summary>
    public static ModelProto Generate(SyntheticLlamaOptions o, string? tokenizerPath, string outputPath, SaveOptions? saveOptions = null)
    {
        Validate(o);
        if (tokenizerPath is not null && !File.Exists(tokenizerPath))
            throw new ModelCompilerException(TokenizationErrors.TokenizerNotFound, "tokenizer file not found; check the path.", Path.GetFullPath(tokenizerPath));
        var tokenizer = tokenizerPath is null ? null : Llama2cImporter.ReadTokenizer(tokenizerPath, o.VocabSize);
        var model = Build(o, tokenizer is null ? null : Path.GetFileName(Llama2cImporter.TokenizerPathFor(outputPath)));
        ImportOutputs.Write(model, tokenizer, outputPath, saveOptions);
        return model;
    }

    /// <summary>cos/sin of p·θ^(-2i/head_dim), [max_seq][head_dim/2], as llama2.c's export computes freq_cis.</summary>
    public static (float[] Cos, float[] Sin) RotaryTables(int maxSeqLen, int headDim)
    {
        var half = headDim / 2;
        var cos = new float[(long)maxSeqLen * half];
        var sin = new float[cos.Length];
        for (var i = 0; i < half; i++)
        {
            var freq = Math.Pow(RopeTheta, -2.0 * i / headDim);
            for (var p = 0; p < maxSeqLen; p++)
            {
                var angle = p * freq;
                cos[(long)p * half + i] = (float)Math.Cos(angle);
                sin[(long)p * half + i] = (float)Math.Sin(angle);
            }
        }
        return (cos, sin);
    }

    private static int[] SpikeLayersOf(SyntheticLlamaOptions o) => o.SpikeLayers.Distinct().Order().ToArray();

    private static PlantedSpike PlanSpike(SyntheticLlamaOptions o, int layer)
    {
        var rng = new SplitMix64(o.Seed, Stream.SpikePlan, layer);
        var units = Distinct(ref rng, Math.Min(2 + (int)rng.Below(3), o.HiddenDim), o.HiddenDim);
        var channels = Distinct(ref rng, Math.Min(1 + (int)rng.Below(2), o.Dim), o.Dim);
        var gains = units.Select(_ => o.SpikeStrength * (MinSpikeGain + (MaxSpikeGain - MinSpikeGain) * rng.NextDouble())).ToArray();
        return new PlantedSpike(layer, units, channels, gains);
    }

    private static int[] Distinct(ref SplitMix64 rng, int count, int range)
    {
        var picked = new List<int>(count);
        while (picked.Count < count)
        {
            var v = (int)rng.Below((ulong)range);
            if (!picked.Contains(v)) picked.Add(v);
        }
        return picked.ToArray();
    }

    /// <summary>
    /// Gate and up rows of each planted unit point along u, so the unit's gate is about gain × a normal unit's gate
    /// standard deviation on most tokens and its down_proj input about the square of that; its down_proj column is
    /// zero except for the residual channels, sized so that they end up holding about <see cref="ResidualSpikeShare"/>
    /// of the residual's energy (one channel: about 3·sqrt(dim) times the RMS of the others).
    /// </summary>
    private static void Plant(SyntheticLlamaOptions o, PlantedSpike spike, double[] u, float[] w1, float[] w2, float[] w3)
    {
        int dim = o.Dim, hidden = o.HiddenDim;
        // A normal unit's gate: N(0, 0.02) row · x with RMS(x) ≈ 1.
        var normalGate = InitStd * Math.Sqrt(dim);
        // u · rmsnorm(embedding) ≈ common / rms(embedding) = c·sqrt(dim) / sqrt(1 + c²).
        var projection = CommonComponent * Math.Sqrt(dim) / Math.Sqrt(1 + CommonComponent * CommonComponent);
        var residualRms = InitStd * Math.Sqrt(1 + CommonComponent * CommonComponent);
        var residualTarget = Math.Sqrt(ResidualSpikeShare / (1 - ResidualSpikeShare) * dim / spike.ResidualChannels.Length) * residualRms;

        var rng = new SplitMix64(o.Seed, Stream.SpikeSigns, spike.Layer);
        var channelSign = spike.ResidualChannels.Select(_ => rng.Below(2) == 0 ? 1.0 : -1.0).ToArray();
        for (var k = 0; k < spike.HiddenUnits.Length; k++)
        {
            var j = spike.HiddenUnits[k];
            var upSign = rng.Below(2) == 0 ? 1.0 : -1.0;
            var gate = spike.Gains[k] * normalGate;
            var rowScale = gate / projection;
            for (var c = 0; c < dim; c++)
            {
                w1[(long)j * dim + c] = (float)(rowScale * u[c]);
                w3[(long)j * dim + c] = (float)(upSign * rowScale * u[c]);
            }
            var product = gate / (1 + Math.Exp(-gate)) * upSign * gate;   // silu(gate) · up
            var channel = k % spike.ResidualChannels.Length;
            var writers = (spike.HiddenUnits.Length - channel + spike.ResidualChannels.Length - 1) / spike.ResidualChannels.Length;
            for (var r = 0; r < dim; r++) w2[(long)r * hidden + j] = 0f;
            w2[(long)spike.ResidualChannels[channel] * hidden + j] = (float)(channelSign[channel] * residualTarget / (writers * product));
        }
    }

    /// <summary>Share of the vocabulary whose embeddings lean along the heavy-tail direction.</summary>
    private const double TriggerShare = 0.03;

    /// <summary>
    /// Trigger tokens (3% of the vocabulary, by the seed) get 0.8 of their norm along a direction w; every gate and up
    /// row of a heavy-tail layer gets w scaled so that a trigger token moves it by about five times a normal unit's
    /// gate. Every channel of the down_proj input then takes large values on trigger tokens only: heavy tails spread
    /// over channels (a low spike score) with a high kurtosis, the shape trained models show.
    /// </summary>
    private static void PlantHeavyTails(SyntheticLlamaOptions o, float[] embedding, float[][] w1, float[][] w3)
    {
        int dim = o.Dim, hidden = o.HiddenDim;
        var rng = new SplitMix64(o.Seed, Stream.HeavyTails, 0);
        var w = RandomUnit(ref rng, dim);
        var triggers = Math.Max(1, (int)(TriggerShare * o.VocabSize));
        var embeddingRms = InitStd * Math.Sqrt(1 + CommonComponent * CommonComponent);
        for (var k = 0; k < triggers; k++)
        {
            var t = (long)rng.Below((ulong)o.VocabSize);
            for (var c = 0; c < dim; c++) embedding[t * dim + c] += (float)(0.8 * Math.Sqrt(dim) * embeddingRms * 2 * w[c]);
        }
        // After RMSNorm a trigger token's w-component is about 0.8·sqrt(dim); a normal unit's gate std is 0.02·sqrt(dim).
        var rowScale = 5 * InitStd * Math.Sqrt(dim) / (0.8 * Math.Sqrt(dim));
        foreach (var l in o.HeavyTailLayers.Distinct().Order())
        {
            for (var j = 0; j < hidden; j++)
            {
                var gs = rng.Below(2) == 0 ? 1.0 : -1.0;
                var us = rng.Below(2) == 0 ? 1.0 : -1.0;
                for (var c = 0; c < dim; c++)
                {
                    w1[l][(long)j * dim + c] += (float)(gs * rowScale * w[c]);
                    w3[l][(long)j * dim + c] += (float)(us * rowScale * w[c]);
                }
            }
        }
    }

    private static double[] UnitDirection(SyntheticLlamaOptions o)
    {
        var rng = new SplitMix64(o.Seed, Stream.Direction, 0);
        return RandomUnit(ref rng, o.Dim);
    }

    /// <summary>A direction uniform on the sphere: normalised Gaussian components (advances <paramref name="rng"/>).</summary>
    private static double[] RandomUnit(ref SplitMix64 rng, int dim)
    {
        var u = new double[dim];
        var norm = 0.0;
        for (var c = 0; c < u.Length; c++)
        {
            u[c] = rng.NextGaussian();
            norm += u[c] * u[c];
        }
        norm = Math.Sqrt(norm);
        for (var c = 0; c < u.Length; c++) u[c] /= norm;
        return u;
    }

    private static float[] Normal(SyntheticLlamaOptions o, Stream stream, int layer, long count, double std, double mean = 0)
    {
        var rng = new SplitMix64(o.Seed, stream, layer);
        var a = new float[count];
        for (long i = 0; i < count; i++) a[i] = (float)(mean + std * rng.NextGaussian());
        return a;
    }

    /// <summary>
    /// SplitMix64 (Steele, Lea, Flood 2014), one stream per (seed, tensor, layer), with Box-Muller normals.
    /// Our own generator: System.Random's algorithm is not guaranteed across .NET versions.
    /// </summary>
    private struct SplitMix64
    {
        private ulong _state;
        private double _spare;
        private bool _hasSpare;

        public SplitMix64(long seed, Stream stream, int layer)
        {
            _state = Mix(unchecked((ulong)seed) ^ Mix(((ulong)stream << 32) | (uint)layer));
            _spare = 0;
            _hasSpare = false;
        }

        private static ulong Mix(ulong z)
        {
            z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
            z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
            return z ^ (z >> 31);
        }

        public ulong Next()
        {
            _state = unchecked(_state + 0x9E3779B97F4A7C15UL);
            return Mix(_state);
        }

        /// <summary>Uniform in [0, 1).</summary>
        public double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));

        /// <summary>Uniform integer in [0, n) (modulo bias below 2^-40 for the sizes used here).</summary>
        public ulong Below(ulong n) => Next() % n;

        public double NextGaussian()
        {
            if (_hasSpare)
            {
                _hasSpare = false;
                return _spare;
            }
            var u1 = ((Next() >> 11) + 1) * (1.0 / (1UL << 53));   // (0, 1]: no log(0)
            var u2 = NextDouble();
            var r = Math.Sqrt(-2.0 * Math.Log(u1));
            var theta = 2.0 * Math.PI * u2;
            _spare = r * Math.Sin(theta);
            _hasSpare = true;
            return r * Math.Cos(theta);
        }
    }
}

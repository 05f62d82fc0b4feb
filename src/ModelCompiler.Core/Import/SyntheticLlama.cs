using System.Collections.Concurrent;
using System.Globalization;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
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
/// "massive activations" planted in chosen layers, then builds the ONNX graph with
/// <see cref="Llama2cImporter.Build(ILlamaWeights, string?, bool, int)"/>. Each weight is generated when the model is
/// saved, one tensor at a time, every row of it from its own random stream derived from (seed, tensor, layer, row): the
/// same seed gives byte-identical models whatever the thread count, and planting spikes changes only the planted rows
/// and columns.
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
        Embedding = 1, Direction, RmsAtt, Wq, Wk, Wv, Wo, RmsFfn, W1, W2, W3, RmsFinal, SpikePlan, SpikeSigns, HeavyTails, HeavyTailSigns,
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

    /// <summary>
    /// The weights the settings describe, as a source that holds none: each tensor is generated when asked for, its
    /// rows split across up to <paramref name="maxThreads"/> threads (default: all cores). Every row has its own random
    /// stream, so the bytes do not depend on the thread count.
    /// </summary>
    public static ILlamaWeights Weights(SyntheticLlamaOptions o, int? maxThreads = null)
    {
        Validate(o);
        return new Generator(o, maxThreads);
    }

    /// <summary>
    /// The ONNX model, with the source metadata. Its weights are generated when they are read (<see cref="Weights"/>):
    /// saving it generates them one tensor at a time, so memory holds about one tensor, never the model.
    /// </summary>
    public static ModelProto Build(SyntheticLlamaOptions o, string? tokenizerFileName = null, int? maxThreads = null)
    {
        var model = Llama2cImporter.Build(Weights(o, maxThreads), tokenizerFileName, lazy: true);
        model.MetadataProps.Add(new StringStringEntryProto { Key = Llama2cImporter.MetadataKeys.Source, Value = Describe(o) });
        return model;
    }

    /// <summary>Generates the model and writes it (and, when given, the tokenizer beside it, checked against the vocabulary).</summary>
    public static ModelProto Generate(SyntheticLlamaOptions o, string? tokenizerPath, string outputPath, SaveOptions? saveOptions = null, int? maxThreads = null)
    {
        Validate(o);
        if (tokenizerPath is not null && !File.Exists(tokenizerPath))
            throw new ModelCompilerException(TokenizationErrors.TokenizerNotFound, "tokenizer file not found; check the path.", Path.GetFullPath(tokenizerPath));
        var tokenizer = tokenizerPath is null ? null : Llama2cImporter.ReadTokenizer(tokenizerPath, o.VocabSize);
        var model = Build(o, tokenizer is null ? null : Path.GetFileName(Llama2cImporter.TokenizerPathFor(outputPath)), maxThreads);
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
    /// What a planted spike writes into its layer's FFN. Gate and up columns of each planted unit point along u, so the
    /// unit's gate is about gain × a normal unit's gate standard deviation on most tokens and its down_proj input about
    /// the square of that; its down_proj row is zero except for the residual channels, sized so that they end up holding
    /// about <see cref="ResidualSpikeShare"/> of the residual's energy (one channel: about 3·sqrt(dim) times the RMS of the others).
    /// </summary>
    private sealed record SpikeWeights(PlantedSpike Spike, double[] RowScale, double[] UpSign, int[] Channel, double[] Down);

    private static SpikeWeights PlanWeights(SyntheticLlamaOptions o, PlantedSpike spike)
    {
        var dim = o.Dim;
        // A normal unit's gate: N(0, 0.02) row · x with RMS(x) ≈ 1.
        var normalGate = InitStd * Math.Sqrt(dim);
        // u · rmsnorm(embedding) ≈ common / rms(embedding) = c·sqrt(dim) / sqrt(1 + c²).
        var projection = CommonComponent * Math.Sqrt(dim) / Math.Sqrt(1 + CommonComponent * CommonComponent);
        var residualRms = InitStd * Math.Sqrt(1 + CommonComponent * CommonComponent);
        var residualTarget = Math.Sqrt(ResidualSpikeShare / (1 - ResidualSpikeShare) * dim / spike.ResidualChannels.Length) * residualRms;

        var rng = new SplitMix64(o.Seed, Stream.SpikeSigns, spike.Layer);
        var channelSign = spike.ResidualChannels.Select(_ => rng.Below(2) == 0 ? 1.0 : -1.0).ToArray();
        var units = spike.HiddenUnits.Length;
        var (rowScale, upSign, channel, down) = (new double[units], new double[units], new int[units], new double[units]);
        for (var k = 0; k < units; k++)
        {
            upSign[k] = rng.Below(2) == 0 ? 1.0 : -1.0;
            var gate = spike.Gains[k] * normalGate;
            rowScale[k] = gate / projection;
            var product = gate / (1 + Math.Exp(-gate)) * upSign[k] * gate;   // silu(gate) · up
            var ch = k % spike.ResidualChannels.Length;
            var writers = (units - ch + spike.ResidualChannels.Length - 1) / spike.ResidualChannels.Length;
            channel[k] = spike.ResidualChannels[ch];
            down[k] = channelSign[ch] * residualTarget / (writers * product);
        }
        return new SpikeWeights(spike, rowScale, upSign, channel, down);
    }

    /// <summary>Share of the vocabulary whose embeddings lean along the heavy-tail direction.</summary>
    private const double TriggerShare = 0.03;

    /// <summary>
    /// Trigger tokens (3% of the vocabulary, by the seed; one may be drawn twice) get 0.8 of their norm along a
    /// direction w; every gate and up column of a heavy-tail layer gets w scaled so that a trigger token moves it by about
    /// five times a normal unit's gate. Every channel of the down_proj input then takes large values on trigger tokens
    /// only: heavy tails spread over channels (a low spike score) with a high kurtosis, the shape trained models show.
    /// </summary>
    private sealed record HeavyTails(double[] Direction, long[] Triggers);

    private static HeavyTails PlanHeavyTails(SyntheticLlamaOptions o)
    {
        var rng = new SplitMix64(o.Seed, Stream.HeavyTails, 0);
        var w = RandomUnit(ref rng, o.Dim);
        var triggers = new long[Math.Max(1, (int)(TriggerShare * o.VocabSize))];
        for (var k = 0; k < triggers.Length; k++) triggers[k] = (long)rng.Below((ulong)o.VocabSize);
        return new HeavyTails(w, triggers);
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

    /// <summary>
    /// Generates each tensor when asked, in the ONNX layout (<see cref="ILlamaWeights"/>): normal values, row r of
    /// tensor (stream, layer) from its own stream (seed, stream, layer, r), rows in parallel; then the tensor's planted
    /// structure (common embedding component, spikes, heavy tails), which depends on the seed alone. The small plans
    /// (directions, spike units, trigger tokens) are made once here; no tensor is kept.
    /// </summary>
    private sealed class Generator : ILlamaWeights
    {
        private readonly SyntheticLlamaOptions _o;
        private readonly ParallelOptions _parallel;
        private readonly double[] _u;
        private readonly Dictionary<int, SpikeWeights> _spikes;
        private readonly HeavyTails? _tails;
        private readonly HashSet<int> _tailLayers;

        public Generator(SyntheticLlamaOptions o, int? maxThreads)
        {
            _o = o;
            _parallel = new ParallelOptions { MaxDegreeOfParallelism = maxThreads is > 0 ? maxThreads.Value : -1 };
            _u = UnitDirection(o);
            _spikes = SpikeLayersOf(o).ToDictionary(l => l, l => PlanWeights(o, PlanSpike(o, l)));
            _tailLayers = [.. o.HeavyTailLayers];
            _tails = _tailLayers.Count > 0 ? PlanHeavyTails(o) : null;
            Config = new Llama2cConfig(o.Dim, o.HiddenDim, o.Layers, o.Heads, o.KvHeads, o.VocabSize, o.MaxSeqLen, SharedClassifier: true);
        }

        public Llama2cConfig Config { get; }

        public byte[] Bytes(LlamaTensor tensor, int layer)
        {
            int dim = _o.Dim, hidden = _o.HiddenDim, kvDim = _o.KvDim;
            var residualStd = InitStd / Math.Sqrt(2.0 * _o.Layers);
            switch (tensor)
            {
                case LlamaTensor.Embedding: return Embedding();
                case LlamaTensor.RmsAtt: return Normal(Stream.RmsAtt, layer, 1, dim, NormStd, 1);
                case LlamaTensor.RmsFfn: return Normal(Stream.RmsFfn, layer, 1, dim, NormStd, 1);
                case LlamaTensor.RmsFinal: return Normal(Stream.RmsFinal, 0, 1, dim, NormStd, 1);
                case LlamaTensor.Wq: return Normal(Stream.Wq, layer, dim, dim, InitStd);
                case LlamaTensor.Wk: return Normal(Stream.Wk, layer, dim, kvDim, InitStd);
                case LlamaTensor.Wv: return Normal(Stream.Wv, layer, dim, kvDim, InitStd);
                case LlamaTensor.Wo: return Normal(Stream.Wo, layer, dim, dim, residualStd);
                case LlamaTensor.W1: return GateOrUp(Normal(Stream.W1, layer, dim, hidden, InitStd), layer, up: false);
                case LlamaTensor.W3: return GateOrUp(Normal(Stream.W3, layer, dim, hidden, InitStd), layer, up: true);
                case LlamaTensor.W2: return Down(Normal(Stream.W2, layer, hidden, dim, residualStd), layer);
                case LlamaTensor.RopeCos: return Llama2cImporter.AsBytes(RotaryTables(_o.MaxSeqLen, _o.HeadDim).Cos);
                case LlamaTensor.RopeSin: return Llama2cImporter.AsBytes(RotaryTables(_o.MaxSeqLen, _o.HeadDim).Sin);
                default: throw new ArgumentOutOfRangeException(nameof(tensor), tensor, "synthetic models tie the classifier to the embedding");
            }
        }

        /// <summary>[rows][cols] values mean + std·N(0, 1), row r from stream (seed, stream, layer, r).</summary>
        private byte[] Normal(Stream stream, int layer, int rows, int cols, double std, double mean = 0)
        {
            var bytes = GC.AllocateUninitializedArray<byte>(rows * cols * sizeof(float));
            var seed = _o.Seed;
            // Chunks of rows, one scratch buffer each; where a chunk ends does not change a row's values.
            var chunk = Math.Max(1, Math.Min(256, rows / (4 * Environment.ProcessorCount)));
            Parallel.ForEach(Partitioner.Create(0, rows, chunk), _parallel, range =>
            {
                var scratch = new double[3 * ((cols + 1) / 2)];
                for (var r = range.Item1; r < range.Item2; r++)
                {
                    var rng = new SplitMix64(seed, stream, layer, r);
                    rng.FillNormal(MemoryMarshal.Cast<byte, float>(bytes.AsSpan()).Slice(r * cols, cols), mean, std, scratch);
                }
            });
            return bytes;
        }

        /// <summary>
        /// Every token embedding shares a component along u (trained embeddings are anisotropic); trigger tokens of the
        /// heavy tails lean along their direction.
        /// </summary>
        private byte[] Embedding()
        {
            int dim = _o.Dim;
            var bytes = Normal(Stream.Embedding, 0, _o.VocabSize, dim, InitStd);
            var e = MemoryMarshal.Cast<byte, float>(bytes.AsSpan());
            var common = new float[dim];
            for (var c = 0; c < dim; c++) common[c] = (float)(CommonComponent * InitStd * Math.Sqrt(dim) * _u[c]);
            Parallel.For(0, _o.VocabSize, _parallel, t =>
            {
                var row = MemoryMarshal.Cast<byte, float>(bytes.AsSpan()).Slice(t * dim, dim);
                for (var c = 0; c < dim; c++) row[c] += common[c];
            });
            if (_tails is { } tails)
            {
                var embeddingRms = InitStd * Math.Sqrt(1 + CommonComponent * CommonComponent);
                foreach (var t in tails.Triggers)
                    for (var c = 0; c < dim; c++) e[(int)(t * dim + c)] += (float)(0.8 * Math.Sqrt(dim) * embeddingRms * 2 * tails.Direction[c]);
            }
            return bytes;
        }

        /// <summary>Gate (W1) or up (W3) [dim][hidden]: planted units' columns replaced, then heavy-tail layers' columns leaned along w.</summary>
        private byte[] GateOrUp(byte[] bytes, int layer, bool up)
        {
            int dim = _o.Dim, hidden = _o.HiddenDim;
            var w = MemoryMarshal.Cast<byte, float>(bytes.AsSpan());
            if (_spikes.TryGetValue(layer, out var s))
            {
                for (var k = 0; k < s.Spike.HiddenUnits.Length; k++)
                {
                    var j = s.Spike.HiddenUnits[k];
                    var scale = (up ? s.UpSign[k] : 1.0) * s.RowScale[k];
                    for (var c = 0; c < dim; c++) w[c * hidden + j] = (float)(scale * _u[c]);
                }
            }
            if (_tails is { } tails && _tailLayers.Contains(layer))
            {
                // After RMSNorm a trigger token's w-component is about 0.8·sqrt(dim); a normal unit's gate std is 0.02·sqrt(dim).
                var rowScale = 5 * InitStd * Math.Sqrt(dim) / (0.8 * Math.Sqrt(dim));
                var rng = new SplitMix64(_o.Seed, Stream.HeavyTailSigns, layer);
                var sign = new double[hidden];
                for (var j = 0; j < hidden; j++)
                {
                    var gateSign = rng.Below(2) == 0 ? 1.0 : -1.0;
                    var upSign = rng.Below(2) == 0 ? 1.0 : -1.0;
                    sign[j] = up ? upSign : gateSign;
                }
                for (var c = 0; c < dim; c++)
                    for (var j = 0; j < hidden; j++) w[c * hidden + j] += (float)(sign[j] * rowScale * tails.Direction[c]);
            }
            return bytes;
        }

        /// <summary>Down (W2) [hidden][dim]: a planted unit's row is zero but for its residual channel.</summary>
        private byte[] Down(byte[] bytes, int layer)
        {
            if (!_spikes.TryGetValue(layer, out var s)) return bytes;
            var dim = _o.Dim;
            var w = MemoryMarshal.Cast<byte, float>(bytes.AsSpan());
            for (var k = 0; k < s.Spike.HiddenUnits.Length; k++)
            {
                var row = w.Slice(s.Spike.HiddenUnits[k] * dim, dim);
                row.Clear();
                row[s.Channel[k]] = (float)s.Down[k];
            }
            return bytes;
        }
    }

    /// <summary>
    /// SplitMix64 (Steele, Lea, Flood 2014), one stream per (seed, tensor, layer) or per row of a tensor, with
    /// Box-Muller normals.
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

        /// <summary>Row <paramref name="row"/>'s own stream of tensor (stream, layer).</summary>
        public SplitMix64(long seed, Stream stream, int layer, int row) : this(seed, stream, layer) =>
            _state = Mix(_state ^ Mix(unchecked((ulong)row + 0x9E3779B97F4A7C15UL)));

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

        /// <summary>
        /// <paramref name="values"/>[i] = mean + std·N(0, 1): Box-Muller on pairs of draws as <see cref="NextGaussian"/>
        /// (cos to even, sin to odd places), its logarithms and sines vectorised (TensorPrimitives).
        /// <paramref name="scratch"/> holds 3·ceil(length / 2) doubles.
        /// </summary>
        public void FillNormal(Span<float> values, double mean, double std, Span<double> scratch)
        {
            var pairs = (values.Length + 1) / 2;
            var radius = scratch[..pairs];
            var angle = scratch.Slice(pairs, pairs);
            var sin = scratch.Slice(2 * pairs, pairs);
            for (var k = 0; k < pairs; k++)
            {
                radius[k] = ((Next() >> 11) + 1) * (1.0 / (1UL << 53));   // (0, 1]: no log(0)
                angle[k] = 2.0 * Math.PI * NextDouble();
            }
            TensorPrimitives.Log(radius, radius);
            TensorPrimitives.Multiply(radius, -2.0, radius);
            TensorPrimitives.Sqrt(radius, radius);
            TensorPrimitives.Sin(angle, sin);
            TensorPrimitives.Cos(angle, angle);
            for (var k = 0; k < pairs; k++)
            {
                values[2 * k] = (float)(mean + std * (radius[k] * angle[k]));
                if (2 * k + 1 < values.Length) values[2 * k + 1] = (float)(mean + std * (radius[k] * sin[k]));
            }
        }

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
            var (sin, cos) = Math.SinCos(2.0 * Math.PI * u2);
            _spare = r * sin;
            _hasSpare = true;
            return r * cos;
        }
    }
}

using Google.Protobuf;
using ModelCompiler.Calibration;
using ModelCompiler.Evaluation;
using ModelCompiler.Import;
using ModelCompiler.Onnx;
using ModelCompiler.Onnx.Proto;
using ModelCompiler.Quantization;
using ModelCompiler.Runtime;
using Xunit.Abstractions;

namespace ModelCompiler.Tests.Import;

public sealed class SyntheticLlamaTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("mc-synthetic");

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>stories260K's configuration (dim 64, hidden 172, 5 layers, 8/4 heads, vocab 512, 512 positions).</summary>
    private static SyntheticLlamaOptions Stories260K(long seed = 1, params int[] spikes) => new()
    {
        Dim = 64, HiddenDim = 172, Layers = 5, Heads = 8, KvHeads = 4, VocabSize = 512, MaxSeqLen = 512, Seed = seed, SpikeLayers = spikes,
    };

    private string Write(SyntheticLlamaOptions o, string name, SaveOptions? save = null)
    {
        var path = Path.Combine(_dir, name);
        SyntheticLlama.Generate(o, null, path, save);
        return path;
    }

    [Fact]
    public void SameSeed_GivesByteIdenticalFiles_OtherSeedOrSpikesDoNot()
    {
        var a = File.ReadAllBytes(Write(Stories260K(seed: 3), Path.Combine("a", "m.onnx")));
        var b = File.ReadAllBytes(Write(Stories260K(seed: 3), Path.Combine("b", "m.onnx")));
        var otherSeed = File.ReadAllBytes(Write(Stories260K(seed: 4), Path.Combine("c", "m.onnx")));
        var spiked = File.ReadAllBytes(Write(Stories260K(3, 1), Path.Combine("d", "m.onnx")));
        Assert.Equal(a, b);
        Assert.NotEqual(a, otherSeed);
        Assert.NotEqual(a, spiked);
    }

    [Fact]
    public void Spikes_ChangeOnlyThePlantedRowsAndColumns()
    {
        var plain = OnnxModelIO.Load(Write(Stories260K(seed: 5), "plain.onnx")).Graph;
        var spiked = OnnxModelIO.Load(Write(Stories260K(5, 2), "spiked.onnx")).Graph;
        var plan = SyntheticLlama.PlanSpikes(Stories260K(5, 2)).Single();
        Assert.Equal(2, plan.Layer);
        Assert.InRange(plan.HiddenUnits.Length, 2, 4);
        Assert.InRange(plan.ResidualChannels.Length, 1, 2);

        var changed = plain.Initializer.Where(t => !t.RawData.Equals(spiked.Initializer.Single(s => s.Name == t.Name).RawData)).Select(t => t.Name).Order().ToArray();
        Assert.Equal(["model.layers.2.mlp.down_proj.weight", "model.layers.2.mlp.gate_proj.weight", "model.layers.2.mlp.up_proj.weight"], changed);

        // Stored [in][out]: gate/up columns j are the planted units; down rows j are zero but for the residual channels.
        float[] Read(GraphProto g, string n) => TensorData.ReadFloats(g.Initializer.Single(t => t.Name == n));
        var gate0 = Read(plain, "model.layers.2.mlp.gate_proj.weight");
        var gate1 = Read(spiked, "model.layers.2.mlp.gate_proj.weight");
        var down0 = Read(plain, "model.layers.2.mlp.down_proj.weight");
        var down1 = Read(spiked, "model.layers.2.mlp.down_proj.weight");
        for (var j = 0; j < 172; j++)
        {
            var planted = plan.HiddenUnits.Contains(j);
            for (var c = 0; c < 64; c++)
            {
                Assert.Equal(planted, gate0[c * 172 + j] != gate1[c * 172 + j]);
                if (!planted) Assert.Equal(down0[j * 64 + c], down1[j * 64 + c]);
                else Assert.Equal(plan.ResidualChannels.Contains(c) && Array.IndexOf(plan.HiddenUnits, j) % plan.ResidualChannels.Length == Array.IndexOf(plan.ResidualChannels, c), down1[j * 64 + c] != 0);
            }
        }
    }

    [Fact]
    public void Stories260KConfig_HasItsShapesAndParameterCount()
    {
        var o = Stories260K(spikes: [0, 3]);
        var model = OnnxModelIO.Load(Write(o, "s.onnx"));
        var g = model.Graph;
        long[] Dims(string n) => g.Initializer.Single(t => t.Name == n).Dims.ToArray();

        Assert.Equal([512L, 64], Dims("model.embed_tokens.weight"));
        Assert.Equal([64L, 64], Dims("model.layers.4.self_attn.q_proj.weight"));
        Assert.Equal([64L, 32], Dims("model.layers.4.self_attn.k_proj.weight"));     // 4 kv heads x head_dim 8
        Assert.Equal([64L, 172], Dims("model.layers.0.mlp.gate_proj.weight"));
        Assert.Equal([172L, 64], Dims("model.layers.0.mlp.down_proj.weight"));
        Assert.Equal([512L, 4], Dims("model.rotary_emb.cos_cached"));
        Assert.DoesNotContain(g.Initializer, t => t.Name == "lm_head.weight");        // tied classifier

        // By hand: 512·64 embedding + 5·(2·64 norms + 2·64·64 q,o + 2·32·64 k,v + 3·64·172 ffn) + 64 final norm.
        const long expected = 512 * 64 + 5 * (2 * 64 + 2 * 64 * 64 + 2 * 32 * 64 + 3 * 64 * 172) + 64;
        Assert.Equal(260032, expected);
        Assert.Equal(expected, o.Parameters);
        Assert.Equal(expected, g.Initializer.Where(t => t.Name.StartsWith("model.", StringComparison.Ordinal) && !t.Name.StartsWith("model.rotary_emb", StringComparison.Ordinal))
            .Sum(TensorData.ElementCount));

        var meta = model.MetadataProps.ToDictionary(p => p.Key, p => p.Value);
        Assert.Equal("synthetic-llama:dim=64,hidden=172,layers=5,heads=8,kv_heads=4,vocab=512,seed=1,spikes=0;3", meta[Llama2cImporter.MetadataKeys.Source]);
        Assert.Equal("512", meta[Llama2cImporter.MetadataKeys.MaxPositions]);
    }

    [Fact]
    public void ThreadCount_DoesNotChangeTheBytes()
    {
        // Wide enough that every tensor's rows are split across threads.
        var o = new SyntheticLlamaOptions { Dim = 128, HiddenDim = 344, Layers = 2, Heads = 4, KvHeads = 2, VocabSize = 512, MaxSeqLen = 64, Seed = 12, SpikeLayers = [1], HeavyTailLayers = [0] };
        var save = new SaveOptions { ExternalData = ExternalDataMode.Always };
        byte[][] Files(int threads, string name)
        {
            var path = Path.Combine(_dir, name, "m.onnx");
            SyntheticLlama.Generate(o, null, path, save, maxThreads: threads);
            return [File.ReadAllBytes(path), File.ReadAllBytes(path + ".data")];
        }
        var one = Files(1, "t1");
        Assert.Equal(one, Files(3, "t3"));
        Assert.Equal(one, Files(16, "t16"));
    }

    [Fact]
    public void Build_HoldsNoWeight_AndSavesEachAsTheSourceGivesIt()
    {
        var o = Stories260K(spikes: [1]) with { HeavyTailLayers = [2] };
        var model = SyntheticLlama.Build(o);
        var weights = model.Graph.Initializer.Where(t => t.RawData.Length >= 1024).ToList();
        Assert.Equal(1 + 2 + 5 * 7, weights.Count);                        // embedding, rotary tables, 7 projections a layer
        Assert.All(weights, t => Assert.True(LazyTensorBytes.IsLazy(t), t.Name));

        var loaded = OnnxModelIO.Load(Write(o, "lazy.onnx")).Graph;
        var source = SyntheticLlama.Weights(o, maxThreads: 1);
        Assert.Equal(source.Bytes(LlamaTensor.W1, 1), loaded.Initializer.Single(t => t.Name == "model.layers.1.mlp.gate_proj.weight").RawData.ToByteArray());
        Assert.Equal(source.Bytes(LlamaTensor.Embedding, 0), loaded.Initializer.Single(t => t.Name == "model.embed_tokens.weight").RawData.ToByteArray());
        Assert.Equal(source.Bytes(LlamaTensor.RmsFfn, 4), loaded.Initializer.Single(t => t.Name == "model.layers.4.post_attention_layernorm.weight").RawData.ToByteArray());
    }

    /// <summary>
    /// A model over the external-data threshold (lowered so that the test stays small) is written with a side file
    /// and loads back through <see cref="OnnxModelIO.Load"/> with every weight as generated.
    /// </summary>
    [Fact]
    public void OverTheExternalDataThreshold_RoundTripsThroughLoad()
    {
        var o = new SyntheticLlamaOptions { Dim = 128, HiddenDim = 344, Layers = 2, Heads = 4, KvHeads = 2, VocabSize = 2048, MaxSeqLen = 64, Seed = 4 };
        var save = new SaveOptions { ExternalData = ExternalDataMode.Auto, ExternalDataThresholdBytes = 1 << 20 };
        var path = Write(o, "big.onnx", save);
        Assert.True(File.Exists(path + ".data"));
        Assert.True(new FileInfo(path).Length < 64 << 10, "the weights should be in the side file");

        var files = new List<string>();
        var g = OnnxModelIO.Load(path, files).Graph;
        Assert.Equal([path + ".data"], files);
        var source = SyntheticLlama.Weights(o);
        foreach (var (name, kind, layer) in new[]
                 {
                     ("model.embed_tokens.weight", LlamaTensor.Embedding, 0), ("model.layers.0.self_attn.q_proj.weight", LlamaTensor.Wq, 0),
                     ("model.layers.1.self_attn.k_proj.weight", LlamaTensor.Wk, 1), ("model.layers.1.mlp.down_proj.weight", LlamaTensor.W2, 1),
                     ("model.layers.0.mlp.up_proj.weight", LlamaTensor.W3, 0), ("model.norm.weight", LlamaTensor.RmsFinal, 0),
                 })
            Assert.Equal(source.Bytes(kind, layer), g.Initializer.Single(t => t.Name == name).RawData.ToByteArray());
        Assert.Equal(o.Parameters, g.Initializer.Where(t => t.Name.StartsWith("model.", StringComparison.Ordinal) && !t.Name.StartsWith("model.rotary_emb", StringComparison.Ordinal))
            .Sum(TensorData.ElementCount));
    }

    private static float[] Floats(byte[] bytes) => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes).ToArray();

    [Fact]
    public void Weights_HaveTheInitialisationScales()
    {
        var o = new SyntheticLlamaOptions { Dim = 128, HiddenDim = 256, Layers = 8, Heads = 4, KvHeads = 2, VocabSize = 256, Seed = 9 };
        var w = SyntheticLlama.Weights(o);
        static (double Mean, double Std) Moments(float[] a)
        {
            var mean = a.Average(v => (double)v);
            return (mean, Math.Sqrt(a.Average(v => (v - mean) * (v - mean))));
        }
        var q = Moments(Floats(w.Bytes(LlamaTensor.Wq, 3)));
        Assert.Equal(0, q.Mean, 1e-3);
        Assert.Equal(0.02, q.Std, 1e-3);
        Assert.Equal(0.02 / 4, Moments(Floats(w.Bytes(LlamaTensor.W2, 7))).Std, 2e-4);                 // 1/sqrt(2·8 layers)
        Assert.Equal(0.02 / 4, Moments(Floats(w.Bytes(LlamaTensor.Wo, 0))).Std, 2e-4);
        var norm = Moments(Floats(w.Bytes(LlamaTensor.RmsFfn, 5)));
        Assert.Equal(1, norm.Mean, 0.01);
        Assert.InRange(norm.Std, 0.01, 0.03);
        Assert.True(w.Config.SharedClassifier);
        Assert.All(Floats(w.Bytes(LlamaTensor.Embedding, 0)), v => Assert.True(float.IsFinite(v)));
    }

    /// <summary>
    /// The generator against N(0, 0.02) on a 2.9M-value tensor: sample moments, and the shares within 1, 2 and 3
    /// standard deviations against the normal distribution's (0.682689, 0.954500, 0.997300). Rows come from separate
    /// streams: neighbouring rows and columns are uncorrelated, and no two rows are alike.
    /// </summary>
    [Fact]
    public void Generator_MatchesTheTargetNormal_RowsIndependent()
    {
        const int dim = 1024, hidden = 2816;
        var o = new SyntheticLlamaOptions { Dim = dim, HiddenDim = hidden, Layers = 1, Heads = 16, KvHeads = 16, VocabSize = 64, MaxSeqLen = 16, Seed = 21 };
        var a = Floats(SyntheticLlama.Weights(o).Bytes(LlamaTensor.W3, 0));  // [dim][hidden], no planted structure
        Assert.Equal(dim * hidden, a.Length);
        double n = a.Length, sum = 0, sum2 = 0, sum3 = 0, sum4 = 0;
        foreach (var v in a) sum += v;
        var mean = sum / n;
        foreach (var v in a)
        {
            var d = v - mean;
            sum2 += d * d;
            sum3 += d * d * d;
            sum4 += d * d * d * d;
        }
        var variance = sum2 / n;
        var std = Math.Sqrt(variance);
        var skew = sum3 / n / (variance * std);
        var excessKurtosis = sum4 / n / (variance * variance) - 3;
        output.WriteLine($"mean {mean:E3}, std {std:F6}, skew {skew:F4}, excess kurtosis {excessKurtosis:F4}");
        // Standard errors at n = 2.9M: mean 1.2e-5, std 8e-6, skew 0.0015, kurtosis 0.003; bounds at about 5 of them.
        Assert.InRange(mean, -6e-5, 6e-5);
        Assert.InRange(std, 0.02 - 4e-5, 0.02 + 4e-5);
        Assert.InRange(skew, -0.008, 0.008);
        Assert.InRange(excessKurtosis, -0.015, 0.015);
        foreach (var (k, share) in new[] { (1.0, 0.682689), (2.0, 0.954500), (3.0, 0.997300) })
        {
            var within = a.Count(v => Math.Abs(v) < k * 0.02) / n;
            Assert.InRange(within, share - 0.0015, share + 0.0015);
        }

        static double Correlation(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
        {
            double sxy = 0, sxx = 0, syy = 0;
            for (var i = 0; i < x.Length; i++)
            {
                sxy += x[i] * y[i];
                sxx += x[i] * x[i];
                syy += y[i] * y[i];
            }
            return sxy / Math.Sqrt(sxx * syy);
        }
        // Correlation of neighbouring rows, pooled over all pairs: about N(0, 1/sqrt(2.9M)) = 6e-4 for independent rows.
        double rowsXy = 0, rowsXx = 0, rowsYy = 0;
        var rowSet = new HashSet<float>();
        for (var r = 0; r + 1 < dim; r++)
        {
            var x = a.AsSpan(r * hidden, hidden);
            var y = a.AsSpan((r + 1) * hidden, hidden);
            for (var i = 0; i < hidden; i++)
            {
                rowsXy += x[i] * y[i];
                rowsXx += x[i] * x[i];
                rowsYy += y[i] * y[i];
            }
            Assert.True(rowSet.Add(x[0] + 3 * x[1]), $"row {r} starts like an earlier row");
        }
        var rowCorrelation = rowsXy / Math.Sqrt(rowsXx * rowsYy);
        var columnCorrelation = Correlation(a.AsSpan(0, a.Length - 1), a.AsSpan(1, a.Length - 1));
        output.WriteLine($"neighbouring rows' correlation {rowCorrelation:E2}, neighbouring values' {columnCorrelation:E2}");
        Assert.InRange(rowCorrelation, -0.004, 0.004);
        Assert.InRange(columnCorrelation, -0.004, 0.004);
    }

    [Fact]
    public void RotaryTables_MatchStories260KsOwn()
    {
        // llama2.c's export computed these in float32 with torch; ours are double rounded to float.
        var real = Llama2cCheckpoint.Load(TestPaths.Checkpoint);
        var w = SyntheticLlama.Weights(Stories260K());
        var (cos, sin) = (Floats(w.Bytes(LlamaTensor.RopeCos, 0)), Floats(w.Bytes(LlamaTensor.RopeSin, 0)));
        Assert.Equal(real.FreqCisReal.Length, cos.Length);
        for (var i = 0; i < real.FreqCisReal.Length; i++)
        {
            Assert.Equal(real.FreqCisReal[i], cos[i], 1e-5);
            Assert.Equal(real.FreqCisImag[i], sin[i], 1e-5);
        }
    }

    [Fact]
    public void Stories260KConfig_RunsOnOnnxRuntime_WithFiniteVaryingLogits()
    {
        var path = Write(Stories260K(spikes: [0, 3]), "run.onnx");
        using var session = new DecoderSession(path, Deterministic.SessionOptions());
        Assert.Equal(512, session.VocabSize);
        Assert.Equal(512, session.MaxPositions);
        var tokens = RandomTokens(64, 512, seed: 11);
        using var step = session.Run(tokens);
        var logits = step.Logits.ToArray();
        Assert.All(logits, v => Assert.True(float.IsFinite(v)));
        // Not degenerate: every position's logits spread, and positions differ.
        for (var p = 0; p < 64; p++)
        {
            var row = step.LogitsAt(p).ToArray();
            Assert.InRange(row.Max() - row.Min(), 0.1, 100);
        }
        Assert.NotEqual(step.LogitsAt(10).ToArray(), step.LogitsAt(40).ToArray());
    }

    [Fact]
    public void ExternalData_ModelLoadsAndRuns()
    {
        var path = Write(Stories260K(), "ext.onnx", new SaveOptions { ExternalData = ExternalDataMode.Always });
        Assert.True(new FileInfo(path + ".data").Length > 260032 * 4 - 1);
        using var session = new DecoderSession(path, Deterministic.SessionOptions());
        using var step = session.Run(RandomTokens(8, 512, seed: 2));
        Assert.All(step.Logits.ToArray(), v => Assert.True(float.IsFinite(v)));
    }

    /// <summary>
    /// The planted units show in a calibration run (ORT, random token ids): the spike layers' down_proj input has a
    /// far larger max/median channel ratio and kurtosis than the same layer of the same seed without spikes, its
    /// loudest channels are the planted units, the average token carries a spike, and a later layer's attention input
    /// inherits a loud residual channel.
    /// </summary>
    [Fact]
    public void PlantedSpikes_ShowInTheDownProjInput()
    {
        var plainOptions = new SyntheticLlamaOptions { Dim = 64, HiddenDim = 172, Layers = 4, Heads = 8, KvHeads = 4, VocabSize = 512, MaxSeqLen = 128, Seed = 7 };
        var spikyOptions = plainOptions with { SpikeLayers = [0, 2] };
        var plain = Calibrate(plainOptions, "plain");
        var spiky = Calibrate(spikyOptions, "spiky");
        var plan = SyntheticLlama.PlanSpikes(spikyOptions);

        foreach (var spike in plan)
        {
            var name = $"model.layers.{spike.Layer}.mlp.down_proj";
            var (p, s) = (plain[name], spiky[name]);
            output.WriteLine($"{name}: spike score {p.SpikeScore:F1} -> {s.SpikeScore:F1}, kurtosis {p.Kurtosis:F1} -> {s.Kurtosis:F1}, mean token max {p.TokenAbsMaxMean:F3} -> {s.TokenAbsMaxMean:F3}, units [{string.Join(',', spike.HiddenUnits)}] top [{string.Join(',', s.TopChannels)}]");
            Assert.True(s.SpikeScore > 20 * p.SpikeScore, $"{name}: spike score {p.SpikeScore} -> {s.SpikeScore}");
            // A layer with 4 planted units spreads its tail over more channels than one with 2: about 10x, not 15x.
            Assert.True(s.Kurtosis > 5 * p.Kurtosis, $"{name}: kurtosis {p.Kurtosis} -> {s.Kurtosis}");
            Assert.True(s.TokenAbsMaxMean > 20 * p.TokenAbsMaxMean, $"{name}: mean token max {p.TokenAbsMaxMean} -> {s.TokenAbsMaxMean}");
            Assert.Equal(spike.HiddenUnits.Order(), s.TopChannels.Take(spike.HiddenUnits.Length).Order());
            Assert.InRange(p.SpikeScore, 1, 10);
        }

        // Layer 3 (no spikes of its own) reads the residual that layers 0 and 2 wrote into.
        var q3 = "model.layers.3.self_attn.q_proj";
        output.WriteLine($"{q3}: spike score {plain[q3].SpikeScore:F1} -> {spiky[q3].SpikeScore:F1}, top [{string.Join(',', spiky[q3].TopChannels)}]");
        Assert.True(spiky[q3].SpikeScore > 2 * plain[q3].SpikeScore);
        Assert.Contains(spiky[q3].TopChannels[0], plan.SelectMany(s => s.ResidualChannels));
    }

    [Fact]
    public void Spike_strength_scales_the_planted_gains_and_milder_spikes_show_less()
    {
        var strong = new SyntheticLlamaOptions { Dim = 64, HiddenDim = 172, Layers = 3, Heads = 8, KvHeads = 4, VocabSize = 512, MaxSeqLen = 128, Seed = 9, SpikeLayers = [1] };
        var mild = strong with { SpikeStrength = 0.1 };
        var (gs, gm) = (SyntheticLlama.PlanSpikes(strong)[0], SyntheticLlama.PlanSpikes(mild)[0]);
        Assert.Equal(gs.HiddenUnits, gm.HiddenUnits);
        for (var k = 0; k < gs.Gains.Length; k++) Assert.Equal(0.1 * gs.Gains[k], gm.Gains[k], 12);
        Assert.Contains("spike_strength=0.1", SyntheticLlama.Describe(mild));
        Assert.DoesNotContain("spike_strength", SyntheticLlama.Describe(strong)); // strength 1 files stay as they were

        var (s, m) = (Calibrate(strong, "strong")["model.layers.1.mlp.down_proj"], Calibrate(mild, "mild")["model.layers.1.mlp.down_proj"]);
        output.WriteLine($"down_proj 1: spike score {s.SpikeScore:F1} (strength 1) vs {m.SpikeScore:F1} (0.1), kurtosis {s.Kurtosis:F1} vs {m.Kurtosis:F1}");
        Assert.True(m.SpikeScore < s.SpikeScore / 2 && m.Kurtosis < s.Kurtosis, $"spike {s.SpikeScore} vs {m.SpikeScore}, kurtosis {s.Kurtosis} vs {m.Kurtosis}");
    }

    [Fact]
    public void Heavy_tails_raise_kurtosis_spread_over_channels_not_in_a_few()
    {
        var plain = new SyntheticLlamaOptions { Dim = 64, HiddenDim = 172, Layers = 3, Heads = 8, KvHeads = 4, VocabSize = 512, MaxSeqLen = 128, Seed = 5 };
        var tails = plain with { HeavyTailLayers = [1] };
        Assert.EndsWith(",heavy_tails=1", SyntheticLlama.Describe(tails));
        // 128 random tokens of 512 ids, 3% of ids are triggers: a few trigger tokens in the window, as intended.
        var (p, t) = (Calibrate(plain, "plain-tails")["model.layers.1.mlp.down_proj"], Calibrate(tails, "tails")["model.layers.1.mlp.down_proj"]);
        output.WriteLine($"down_proj 1: kurtosis {p.Kurtosis:F1} -> {t.Kurtosis:F1}, spike score {p.SpikeScore:F1} -> {t.SpikeScore:F1}");
        Assert.True(t.Kurtosis > 3 * p.Kurtosis, $"kurtosis {p.Kurtosis} -> {t.Kurtosis}");
        Assert.True(t.SpikeScore < 8, $"spike score {t.SpikeScore}: the tails should spread over channels");
        Assert.True(t.TokenAbsMaxMax > 5 * t.TokenAbsMaxMean, "a few tokens carry the large values");
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1.0)]
    [InlineData(double.NaN)]
    [InlineData(1000.0)]
    public void Spike_strength_outside_0_100_is_MC1010(double strength)
    {
        var o = Stories260K(1, 0) with { SpikeStrength = strength };
        var path = Path.Combine(_dir, "strength.onnx");
        Assert.Equal("MC1010", Assert.Throws<ModelCompilerException>(() => SyntheticLlama.Generate(o, null, path)).Code);
        Assert.False(File.Exists(path));
    }

    [Theory]
    [InlineData(0, 172, 5, 8, 4, 512, "", "MC1010")]
    [InlineData(64, -1, 5, 8, 4, 512, "", "MC1010")]
    [InlineData(64, 172, 0, 8, 4, 512, "", "MC1010")]
    [InlineData(64, 172, 5, 0, 4, 512, "", "MC1010")]
    [InlineData(64, 172, 5, 8, 4, 0, "", "MC1010")]
    [InlineData(64, 172, 5, 7, 7, 512, "", "MC1011")]    // dim not divisible by heads
    [InlineData(64, 172, 5, 8, 3, 512, "", "MC1011")]    // heads not divisible by kv-heads
    [InlineData(48, 172, 5, 16, 4, 512, "", "MC1011")]   // head_dim 3 is odd
    [InlineData(64, 172, 5, 8, 4, 512, "5", "MC1012")]
    [InlineData(64, 172, 5, 8, 4, 512, "-1", "MC1012")]
    public void BadSettings_AreCodedErrors(int dim, int hidden, int layers, int heads, int kvHeads, int vocab, string spikes, string code)
    {
        var o = new SyntheticLlamaOptions
        {
            Dim = dim, HiddenDim = hidden, Layers = layers, Heads = heads, KvHeads = kvHeads, VocabSize = vocab,
            SpikeLayers = spikes.Length == 0 ? [] : [int.Parse(spikes, System.Globalization.CultureInfo.InvariantCulture)],
        };
        var path = Path.Combine(_dir, "bad.onnx");
        var e = Assert.Throws<ModelCompilerException>(() => SyntheticLlama.Generate(o, null, path));
        Assert.Equal(code, e.Code);
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void Tokenizer_IsCopiedBeside_AndMustCoverTheVocabulary()
    {
        var path = Path.Combine(_dir, "tok.onnx");
        SyntheticLlama.Generate(Stories260K(), TestPaths.Tokenizer, path);
        Assert.Equal(File.ReadAllBytes(TestPaths.Tokenizer), File.ReadAllBytes(Llama2cImporter.TokenizerPathFor(path)));
        Assert.Equal("tok.tokenizer.bin", OnnxModelIO.Load(path).MetadataProps.Single(p => p.Key == Llama2cImporter.MetadataKeys.Tokenizer).Value);

        var tooBig = Path.Combine(_dir, "big.onnx");
        var e = Assert.Throws<ModelCompilerException>(() => SyntheticLlama.Generate(Stories260K() with { VocabSize = 1000 }, TestPaths.Tokenizer, tooBig));
        Assert.Equal("MC1022", e.Code);
        Assert.False(File.Exists(tooBig));
    }

    private static long[] RandomTokens(int count, int vocab, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (long)random.Next(vocab)).ToArray();
    }

    /// <summary>Calibrates every layer of the generated model on 2 windows of 64 random token ids.</summary>
    private Dictionary<string, ActivationSummary> Calibrate(SyntheticLlamaOptions o, string name)
    {
        var model = SyntheticLlama.Build(o);
        var layers = LayerDiscovery.Find(new OnnxGraph(model.Graph));
        var work = Directory.CreateDirectory(Path.Combine(_dir, name)).FullName;
        var tokens = TokenStream.FromTokens("random", RandomTokens(128, o.VocabSize, seed: 3).Select(t => (int)t).ToArray());
        var result = Calibrator.Run(model, layers, tokens, 64, work);
        return layers.ToDictionary(l => l.Name, l => result.For(l).Summarize());
    }
}

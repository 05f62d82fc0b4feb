namespace ModelCompiler.Tests.Import;

/// <summary>
/// An independent, deliberately plain transcription of llama2.c's <c>run.c</c> forward pass, for checking the
/// ONNX graph against. It has its own checkpoint reader, computes in double precision, and derives the rotary
/// angles from the formula (theta 10000, pairs (2i, 2i+1) inside each head) instead of the checkpoint's
/// freq_cis tables, which it skips exactly as run.c does.
/// </summary>
internal sealed class ReferenceLlama
{
    public int Dim { get; private init; }
    public int Hidden { get; private init; }
    public int Layers { get; private init; }
    public int Heads { get; private init; }
    public int KvHeads { get; private init; }
    public int Vocab { get; private init; }
    public int SeqLen { get; private init; }
    public bool SharedClassifier { get; private init; }

    private float[] _embedding = [];
    private float[][] _rmsAtt = [], _wq = [], _wk = [], _wv = [], _wo = [], _rmsFfn = [], _w1 = [], _w2 = [], _w3 = [];
    private float[] _rmsFinal = [];
    private float[] _wcls = [];

    private int HeadSize => Dim / Heads;
    private int KvDim => KvHeads * HeadSize;

    public static ReferenceLlama Load(string path)
    {
        using var r = new BinaryReader(File.OpenRead(path));
        int dim = r.ReadInt32(), hidden = r.ReadInt32(), layers = r.ReadInt32(), heads = r.ReadInt32(),
            kvHeads = r.ReadInt32(), vocab = r.ReadInt32(), seqLen = r.ReadInt32();
        var shared = vocab > 0;
        vocab = Math.Abs(vocab);
        var headSize = dim / heads;
        var kvDim = kvHeads * headSize;

        float[] Read(int n)
        {
            var a = new float[n];
            for (var i = 0; i < n; i++) a[i] = r.ReadSingle();
            return a;
        }
        float[][] PerLayer(int n) => Enumerable.Range(0, layers).Select(_ => Read(n)).ToArray();

        var m = new ReferenceLlama
        {
            Dim = dim, Hidden = hidden, Layers = layers, Heads = heads, KvHeads = kvHeads, Vocab = vocab, SeqLen = seqLen,
            SharedClassifier = shared,
        };
        m._embedding = Read(vocab * dim);
        m._rmsAtt = PerLayer(dim);
        m._wq = PerLayer(dim * dim);
        m._wk = PerLayer(kvDim * dim);
        m._wv = PerLayer(kvDim * dim);
        m._wo = PerLayer(dim * dim);
        m._rmsFfn = PerLayer(dim);
        m._w1 = PerLayer(hidden * dim);
        m._w2 = PerLayer(dim * hidden);
        m._w3 = PerLayer(hidden * dim);
        m._rmsFinal = Read(dim);
        // run.c: skip what used to be freq_cis_real and freq_cis_imag.
        r.BaseStream.Seek((long)seqLen * headSize / 2 * 2 * sizeof(float), SeekOrigin.Current);
        m._wcls = shared ? m._embedding : Read(vocab * dim);
        return m;
    }

    /// <summary>run.c's RunState: the key/value cache of the tokens seen so far.</summary>
    public sealed class State
    {
        internal readonly List<double[]>[] Keys;
        internal readonly List<double[]>[] Values;

        internal State(int layers)
        {
            Keys = Enumerable.Range(0, layers).Select(_ => new List<double[]>()).ToArray();
            Values = Enumerable.Range(0, layers).Select(_ => new List<double[]>()).ToArray();
        }

        public int Position => Keys[0].Count;
    }

    public State NewState() => new(Layers);

    /// <summary>Logits of every position of <paramref name="tokens"/>, run from an empty cache: [position][vocab].</summary>
    public double[][] Forward(IReadOnlyList<int> tokens)
    {
        var state = NewState();
        return tokens.Select(t => Step(state, t)).ToArray();
    }

    /// <summary>run.c's <c>forward(transformer, token, pos)</c> with pos = the number of tokens in the state.</summary>
    public double[] Step(State s, int token)
    {
        var pos = s.Position;
        var headSize = HeadSize;
        var kvDim = KvDim;
        var kvMul = Heads / KvHeads;

        var x = new double[Dim];
        for (var i = 0; i < Dim; i++) x[i] = _embedding[token * Dim + i];

        for (var l = 0; l < Layers; l++)
        {
            var xb = RmsNorm(x, _rmsAtt[l]);
            var q = MatVec(_wq[l], xb, Dim, Dim);
            var k = MatVec(_wk[l], xb, kvDim, Dim);
            var v = MatVec(_wv[l], xb, kvDim, Dim);

            // RoPE relative positional encoding: complex-valued rotate q and k in each head.
            for (var i = 0; i < Dim; i += 2)
            {
                // In float, exactly as run.c (and the PyTorch export that wrote the checkpoint's tables) does: at
                // position 255 the float32 angle differs from the exact one by ~1e-5 rad, which moves logits by
                // ~1e-4, so a double-precision angle would measure a slightly different model.
                var headDim = i % headSize;
                var freq = 1.0f / MathF.Pow(10000.0f, headDim / (float)headSize);
                var val = pos * freq;
                double fcr = MathF.Cos(val);
                double fci = MathF.Sin(val);
                var rotn = i < kvDim ? 2 : 1; // how many vectors? 2 = q & k, 1 = q only
                for (var n = 0; n < rotn; n++)
                {
                    var vec = n == 0 ? q : k;
                    double v0 = vec[i], v1 = vec[i + 1];
                    vec[i] = v0 * fcr - v1 * fci;
                    vec[i + 1] = v0 * fci + v1 * fcr;
                }
            }
            s.Keys[l].Add(k);
            s.Values[l].Add(v);

            // Multihead attention over positions 0..pos (causal by construction).
            var att = new double[Dim];
            var scores = new double[pos + 1];
            for (var h = 0; h < Heads; h++)
            {
                var kvOffset = h / kvMul * headSize;
                for (var t = 0; t <= pos; t++)
                {
                    var kt = s.Keys[l][t];
                    double score = 0;
                    for (var i = 0; i < headSize; i++) score += q[h * headSize + i] * kt[kvOffset + i];
                    scores[t] = score / Math.Sqrt(headSize);
                }
                Softmax(scores);
                for (var t = 0; t <= pos; t++)
                {
                    var vt = s.Values[l][t];
                    for (var i = 0; i < headSize; i++) att[h * headSize + i] += scores[t] * vt[kvOffset + i];
                }
            }
            var attOut = MatVec(_wo[l], att, Dim, Dim);
            for (var i = 0; i < Dim; i++) x[i] += attOut[i];

            // FFN: w2(silu(w1(x)) * w3(x)).
            xb = RmsNorm(x, _rmsFfn[l]);
            var hb = MatVec(_w1[l], xb, Hidden, Dim);
            var hb2 = MatVec(_w3[l], xb, Hidden, Dim);
            for (var i = 0; i < Hidden; i++) hb[i] = hb[i] * (1.0 / (1.0 + Math.Exp(-hb[i]))) * hb2[i];
            var down = MatVec(_w2[l], hb, Dim, Hidden);
            for (var i = 0; i < Dim; i++) x[i] += down[i];
        }

        x = RmsNorm(x, _rmsFinal);
        return MatVec(_wcls, x, Vocab, Dim);
    }

    /// <summary>Greedy decoding, run.c style (argmax of each step's logits).</summary>
    public List<int> Greedy(IReadOnlyList<int> prompt, int steps)
    {
        var state = NewState();
        double[] logits = [];
        foreach (var t in prompt) logits = Step(state, t);
        var result = new List<int>();
        for (var n = 0; n < steps; n++)
        {
            var next = ArgMax(logits);
            result.Add(next);
            logits = Step(state, next);
        }
        return result;
    }

    public static int ArgMax(double[] v)
    {
        var best = 0;
        for (var i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    /// <summary>−log softmax(logits)[target].</summary>
    public static double Nll(double[] logits, int target)
    {
        var max = logits.Max();
        var sum = logits.Sum(v => Math.Exp(v - max));
        return max + Math.Log(sum) - logits[target];
    }

    private static double[] RmsNorm(double[] x, float[] weight)
    {
        double ss = 0;
        foreach (var v in x) ss += v * v;
        ss = ss / x.Length + 1e-5;
        ss = 1.0 / Math.Sqrt(ss);
        var o = new double[x.Length];
        for (var j = 0; j < x.Length; j++) o[j] = weight[j] * (ss * x[j]);
        return o;
    }

    /// <summary>W (d,n) @ x (n,) → (d,), W stored row-major [out][in] as in run.c's matmul.</summary>
    private static double[] MatVec(float[] w, double[] x, int d, int n)
    {
        var o = new double[d];
        for (var i = 0; i < d; i++)
        {
            double val = 0;
            var row = i * n;
            for (var j = 0; j < n; j++) val += w[row + j] * x[j];
            o[i] = val;
        }
        return o;
    }

    private static void Softmax(double[] x)
    {
        var max = x.Max();
        double sum = 0;
        for (var i = 0; i < x.Length; i++) sum += x[i] = Math.Exp(x[i] - max);
        for (var i = 0; i < x.Length; i++) x[i] /= sum;
    }
}

namespace ModelCompiler.Tests.Import;

/// <summary>Writes llama2.c checkpoints with random weights (and headers for the corruption tests).</summary>
internal static class SyntheticCheckpoint
{
    /// <summary>
    /// A complete, well-formed checkpoint. <paramref name="sharedClassifier"/> false writes a negative vocab_size
    /// and a separate classifier after the freq_cis tables, as llama2.c's export does.
    /// </summary>
    public static void Write(string path, int dim, int hidden, int layers, int heads, int kvHeads, int vocab, int seqLen,
        bool sharedClassifier, int seed)
    {
        var random = new Random(seed);
        var headSize = dim / heads;
        var kvDim = kvHeads * headSize;
        using var w = new BinaryWriter(File.Create(path));
        foreach (var v in new[] { dim, hidden, layers, heads, kvHeads, sharedClassifier ? vocab : -vocab, seqLen }) w.Write(v);

        void Random(int n, double scale, double offset = 0)
        {
            for (var i = 0; i < n; i++) w.Write((float)(offset + scale * (random.NextDouble() * 2 - 1)));
        }
        void PerLayer(int n, double scale, double offset = 0)
        {
            for (var l = 0; l < layers; l++) Random(n, scale, offset);
        }

        Random(vocab * dim, 1.0);                   // token embedding
        PerLayer(dim, 0.3, 1.0);                     // rms_att
        PerLayer(dim * dim, 1.0 / Math.Sqrt(dim));   // wq
        PerLayer(kvDim * dim, 1.0 / Math.Sqrt(dim)); // wk
        PerLayer(kvDim * dim, 1.0 / Math.Sqrt(dim)); // wv
        PerLayer(dim * dim, 1.0 / Math.Sqrt(dim));   // wo
        PerLayer(dim, 0.3, 1.0);                     // rms_ffn
        PerLayer(hidden * dim, 1.0 / Math.Sqrt(dim));    // w1
        PerLayer(dim * hidden, 1.0 / Math.Sqrt(hidden)); // w2
        PerLayer(hidden * dim, 1.0 / Math.Sqrt(dim));    // w3
        Random(dim, 0.3, 1.0);                       // rms_final
        for (var part = 0; part < 2; part++)         // freq_cis_real, freq_cis_imag
            for (var p = 0; p < seqLen; p++)
                for (var i = 0; i < headSize / 2; i++)
                {
                    var angle = p / Math.Pow(10000.0, 2.0 * i / headSize);
                    w.Write((float)(part == 0 ? Math.Cos(angle) : Math.Sin(angle)));
                }
        if (!sharedClassifier) Random(vocab * dim, 0.5);
    }

    /// <summary>Just the 7-int header, followed by <paramref name="extraBytes"/> zero bytes.</summary>
    public static void WriteHeader(string path, int[] header, int extraBytes = 0)
    {
        using var w = new BinaryWriter(File.Create(path));
        foreach (var v in header) w.Write(v);
        w.Write(new byte[extraBytes]);
    }
}

using ModelCompiler.Import;

namespace ModelCompiler.Tests.Import;

public sealed class CheckpointTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("mc-ckpt");

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    // stories260K: dim 64, hidden 172, 5 layers, 8 heads, 4 kv heads, vocab 512 (shared), max_seq 512.
    private static readonly int[] Stories = [64, 172, 5, 8, 4, 512, 512];

    [Fact]
    public void Stories260K_LoadsWithTheDocumentedConfig()
    {
        var c = Llama2cCheckpoint.Load(TestPaths.Checkpoint);
        Assert.Equal(new Llama2cConfig(64, 172, 5, 8, 4, 512, 512, SharedClassifier: true), c.Config);
        Assert.Equal(8, c.Config.HeadDim);
        Assert.Equal(32, c.Config.KvDim);
        Assert.Same(c.TokenEmbedding, c.Classifier);
        Assert.Equal(512 * 64, c.TokenEmbedding.Length);
        Assert.Equal(5, c.Wq.Length);
        Assert.Equal(32 * 64, c.Wk[4].Length);
        Assert.Equal(172 * 64, c.W1[0].Length);
        Assert.Equal(64 * 172, c.W2[0].Length);
        Assert.Equal(512 * 4, c.FreqCisReal.Length);
        // Position 0 of the rotary tables is the identity rotation: the arrays sit at the right offset.
        Assert.All(c.FreqCisReal[..4], v => Assert.Equal(1f, v, 6));
        Assert.All(c.FreqCisImag[..4], v => Assert.Equal(0f, v, 6));
    }

    [Fact]
    public void Load_ReadsEveryArrayAtItsOffset()
    {
        // Against this file's own plain reader: first and last floats of each array, in file order.
        var c = Llama2cCheckpoint.Load(TestPaths.Checkpoint);
        using var r = new BinaryReader(File.OpenRead(TestPaths.Checkpoint));
        r.BaseStream.Position = 28;
        float[] Next(int n) => Enumerable.Range(0, n).Select(_ => r.ReadSingle()).ToArray();
        Assert.Equal(Next(512 * 64), c.TokenEmbedding);
        foreach (var (arrays, size) in new (float[][], int)[]
                 {
                     (c.RmsAtt, 64), (c.Wq, 64 * 64), (c.Wk, 32 * 64), (c.Wv, 32 * 64), (c.Wo, 64 * 64), (c.RmsFfn, 64),
                     (c.W1, 172 * 64), (c.W2, 64 * 172), (c.W3, 172 * 64),
                 })
            foreach (var layer in arrays) Assert.Equal(Next(size), layer);
        Assert.Equal(Next(64), c.RmsFinal);
        Assert.Equal(Next(512 * 4), c.FreqCisReal);
        Assert.Equal(Next(512 * 4), c.FreqCisImag);
        Assert.Equal(r.BaseStream.Length, r.BaseStream.Position);
    }

    [Fact]
    public void NegativeVocab_MeansASeparateClassifier()
    {
        var path = Path.Combine(_dir, "unshared.bin");
        SyntheticCheckpoint.Write(path, dim: 16, hidden: 24, layers: 2, heads: 4, kvHeads: 2, vocab: 40, seqLen: 32, sharedClassifier: false, seed: 1);
        var c = Llama2cCheckpoint.Load(path);
        Assert.False(c.Config.SharedClassifier);
        Assert.Equal(40, c.Config.VocabSize);
        Assert.NotSame(c.TokenEmbedding, c.Classifier);
        Assert.NotEqual(c.TokenEmbedding, c.Classifier);
        using var r = new BinaryReader(File.OpenRead(path));
        r.BaseStream.Position = r.BaseStream.Length - 40 * 16 * 4;
        Assert.Equal(Enumerable.Range(0, 40 * 16).Select(_ => r.ReadSingle()), c.Classifier);
    }

    public static TheoryData<string, int[]> BadHeaders => new()
    {
        { "zero dim", [0, 172, 5, 8, 4, 512, 512] },
        { "negative dim", [-64, 172, 5, 8, 4, 512, 512] },
        { "zero hidden", [64, 0, 5, 8, 4, 512, 512] },
        { "negative hidden", [64, -172, 5, 8, 4, 512, 512] },
        { "zero layers", [64, 172, 0, 8, 4, 512, 512] },
        { "absurd layers", [64, 172, 1_000_000, 8, 4, 512, 512] },
        { "negative layers", [64, 172, -5, 8, 4, 512, 512] },
        { "heads not dividing dim", [64, 172, 5, 7, 7, 512, 512] },
        { "zero heads", [64, 172, 5, 0, 4, 512, 512] },
        { "more heads than dim", [64, 172, 5, 128, 4, 512, 512] },
        { "kv heads not dividing heads", [64, 172, 5, 8, 3, 512, 512] },
        { "more kv heads than heads", [64, 172, 5, 8, 16, 512, 512] },
        { "zero kv heads", [64, 172, 5, 8, 0, 512, 512] },
        { "zero vocab", [64, 172, 5, 8, 4, 0, 512] },
        { "absurd vocab", [64, 172, 5, 8, 4, int.MaxValue, 512] },
        { "absurd negative vocab", [64, 172, 5, 8, 4, int.MinValue + 1, 512] },
        { "int.MinValue vocab", [64, 172, 5, 8, 4, int.MinValue, 512] },
        { "zero max_seq", [64, 172, 5, 8, 4, 512, 0] },
        { "negative max_seq", [64, 172, 5, 8, 4, 512, -1] },
        { "odd head size", [24, 172, 5, 8, 4, 512, 512] },
        { "int.MaxValue dim", [int.MaxValue, 172, 5, 1, 1, 512, 512] },
    };

    [Theory]
    [MemberData(nameof(BadHeaders))]
    public void ImpossibleHeader_IsMC1005_NamingTheFile(string what, int[] header)
    {
        var path = Path.Combine(_dir, "bad.bin");
        // Plenty of bytes after the header, so only the header can be at fault.
        SyntheticCheckpoint.WriteHeader(path, header, extraBytes: 1 << 20);
        var e = Assert.Throws<ModelCompilerException>(() => Llama2cCheckpoint.Load(path));
        Assert.True(e.Code == "MC1005", $"{what}: got {e.Code}: {e.Message}");
        Assert.Equal(path, e.File);
        Assert.Contains("header", e.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(10)]
    [InlineData(27)]
    public void FileShorterThanTheHeader_IsMC1005(int length)
    {
        var path = Path.Combine(_dir, "short.bin");
        File.WriteAllBytes(path, File.ReadAllBytes(TestPaths.Checkpoint)[..length]);
        var e = Assert.Throws<ModelCompilerException>(() => Llama2cCheckpoint.Load(path));
        Assert.Equal("MC1005", e.Code);
        Assert.Equal(path, e.File);
    }

    [Theory]
    [InlineData(28)]
    [InlineData(1000)]
    [InlineData(-1)]    // one byte short of the full file
    public void FileShorterThanTheHeaderPromises_IsMC1005(int length)
    {
        var bytes = File.ReadAllBytes(TestPaths.Checkpoint);
        var path = Path.Combine(_dir, "truncated.bin");
        File.WriteAllBytes(path, length < 0 ? bytes[..^1] : bytes[..length]);
        var e = Assert.Throws<ModelCompilerException>(() => Llama2cCheckpoint.Load(path));
        Assert.Equal("MC1005", e.Code);
        Assert.Equal(path, e.File);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void HugeButPlausibleHeader_OnATinyFile_FailsFastWithoutAllocating()
    {
        // A 7B-like header (tens of GB promised) on a 28-byte file: the size check must come before any read.
        var path = Path.Combine(_dir, "huge.bin");
        SyntheticCheckpoint.WriteHeader(path, [4096, 11008, 32, 32, 32, 32000, 4096]);
        var before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<ModelCompilerException>(() => Llama2cCheckpoint.Load(path));
        Assert.Equal("MC1005", e.Code);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 10_000_000);
    }

    [Fact]
    public void MissingCheckpoint_IsMC1001()
    {
        var path = Path.Combine(_dir, "missing.bin");
        var e = Assert.Throws<ModelCompilerException>(() => Llama2cCheckpoint.Load(path));
        Assert.Equal("MC1001", e.Code);
        Assert.Equal(path, e.File);
    }

    [Fact]
    public void Import_OfACorruptCheckpoint_WritesNothing()
    {
        var ckpt = Path.Combine(_dir, "bad.bin");
        SyntheticCheckpoint.WriteHeader(ckpt, [64, 172, 5, 7, 7, 512, 512], 1000);
        var outDir = Directory.CreateDirectory(Path.Combine(_dir, "out")).FullName;
        var e = Assert.Throws<ModelCompilerException>(() => Llama2cImporter.Import(ckpt, TestPaths.Tokenizer, Path.Combine(outDir, "m.onnx")));
        Assert.Equal("MC1005", e.Code);
        Assert.Equal(ckpt, e.File);
        Assert.Empty(Directory.GetFileSystemEntries(outDir));
    }

    [Fact]
    public void Import_WithAMissingTokenizer_IsMC1001AndWritesNothing()
    {
        var outDir = Directory.CreateDirectory(Path.Combine(_dir, "out")).FullName;
        var tok = Path.Combine(_dir, "no-tokenizer.bin");
        var e = Assert.Throws<ModelCompilerException>(() => Llama2cImporter.Import(TestPaths.Checkpoint, tok, Path.Combine(outDir, "m.onnx")));
        Assert.Equal("MC1001", e.Code);
        Assert.Equal(tok, e.File);
        Assert.Empty(Directory.GetFileSystemEntries(outDir));
    }

    [Fact]
    public void ValidHeader_IsAccepted_ForTheTestsAbove()
    {
        // Sanity for the bad-header theory: the stories260K header itself with its full payload loads.
        var path = Path.Combine(_dir, "copy.bin");
        File.Copy(TestPaths.Checkpoint, path);
        Assert.Equal(Stories[0], Llama2cCheckpoint.Load(path).Config.Dim);
    }
}

using System.Security.Cryptography;
using ModelCompiler.Import;
using ModelCompiler.IO;
using ModelCompiler.Onnx;

namespace ModelCompiler.Tests.Reliability;

/// <summary>
/// Issue 8 for <c>import</c>: the tokenizer is checked before anything is written, and the model, its external data
/// and the tokenizer copy are committed as one set (nothing half-written, the previous set kept on failure).
/// </summary>
public sealed class ImportReliabilityTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("mc-import-rel");

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static byte[] Tok() => File.ReadAllBytes(TestPaths.Tokenizer);

    /// <summary>A broken copy of tok512.bin: what the import must refuse, and the code it must give.</summary>
    public static TheoryData<string, string> BrokenTokenizers => new()
    {
        { "empty", "MC1021" },
        { "header only", "MC1022" },
        { "cut inside an entry", "MC1021" },
        { "cut after half the entries", "MC1022" },
        { "negative max_token_length", "MC1021" },
        { "entry length negative", "MC1021" },
        { "entry longer than the file", "MC1021" },
        { "text file", "MC1021" },
    };

    private static byte[] Break(string how)
    {
        var tok = Tok();
        switch (how)
        {
            case "empty": return [];
            case "header only": return tok[..4];
            case "cut inside an entry": return tok[..(tok.Length / 2 + 3)];
            case "cut after half the entries": return tok[..EntryBoundary(tok, 256)];
            case "negative max_token_length": tok[3] = 0xFF; return tok;
            case "entry length negative": tok[8 + 3] = 0xFF; return tok; // entry 0's length field, after its score
            case "entry longer than the file": tok[8] = 0x7F; return tok;
            case "text file": return "{\"model\": {\"type\": \"BPE\"}}"u8.ToArray();
            default: throw new ArgumentException(how);
        }
    }

    /// <summary>The byte offset after entry <paramref name="count"/> - 1 of a llama2.c tokenizer file.</summary>
    private static int EntryBoundary(byte[] tok, int count)
    {
        var offset = 4;
        for (var i = 0; i < count; i++) offset += 8 + BitConverter.ToInt32(tok, offset + 4);
        return offset;
    }

    [Theory]
    [MemberData(nameof(BrokenTokenizers))]
    public void Import_WithABrokenTokenizer_IsRefused_AndWritesNothing(string how, string code)
    {
        var tok = Path.Combine(_dir, "tok.bin");
        var bytes = Break(how);
        File.WriteAllBytes(tok, bytes);
        var output = Path.Combine(_dir, "out", "m.onnx");

        var e = Assert.Throws<ModelCompilerException>(() => Llama2cImporter.Import(TestPaths.Checkpoint, tok, output));

        Assert.Equal(code, e.Code);
        Assert.Equal(tok, e.File);
        Assert.Equal(bytes, File.ReadAllBytes(tok));
        Assert.False(Directory.Exists(Path.Combine(_dir, "out")), "the output folder it would have created is left behind");
    }

    [Fact]
    public void SyntheticImport_WithABrokenTokenizer_IsRefused_AndWritesNothing()
    {
        var tok = Path.Combine(_dir, "tok.bin");
        File.WriteAllBytes(tok, Break("cut inside an entry"));
        var outDir = Directory.CreateDirectory(Path.Combine(_dir, "out")).FullName;
        var options = new SyntheticLlamaOptions { Dim = 64, HiddenDim = 172, Layers = 1, Heads = 8, KvHeads = 4, VocabSize = 512, MaxSeqLen = 64 };
        var e = Assert.Throws<ModelCompilerException>(() => SyntheticLlama.Generate(options, tok, Path.Combine(outDir, "m.onnx")));
        Assert.Equal("MC1021", e.Code);
        Assert.Empty(Directory.GetFileSystemEntries(outDir));
    }

    [Fact]
    public void FailedImport_KeepsThePreviousSet_ByteForByte()
    {
        var output = Path.Combine(_dir, "m.onnx");
        Llama2cImporter.Import(TestPaths.Checkpoint, TestPaths.Tokenizer, output, new SaveOptions { ExternalData = ExternalDataMode.Always });
        var before = Snapshot(_dir);
        Assert.Equal(["m.onnx", "m.onnx.data", "m.tokenizer.bin"], before.Keys);

        var bad = Path.Combine(Directory.CreateDirectory(Path.Combine(_dir, "in")).FullName, "tok.bin");
        File.WriteAllBytes(bad, Break("cut inside an entry"));
        Assert.Equal("MC1021", Assert.Throws<ModelCompilerException>(() => Llama2cImporter.Import(TestPaths.Checkpoint, bad, output)).Code);

        var after = Snapshot(_dir);
        Assert.Equal(before, after);
    }

    [Fact]
    public void ImportToADirectory_IsMC1072_AndLeavesNoStaging()
    {
        var output = Directory.CreateDirectory(Path.Combine(_dir, "m.onnx")).FullName;
        var e = Assert.Throws<ModelCompilerException>(() => Llama2cImporter.Import(TestPaths.Checkpoint, TestPaths.Tokenizer, output));
        Assert.Equal(PathGuard.BadDestination, e.Code);
        Assert.Equal(["m.onnx"], Directory.GetFileSystemEntries(_dir).Select(Path.GetFileName));
        Assert.Empty(Directory.GetFileSystemEntries(output));
    }

    [Fact]
    public void Import_CommitsModelDataAndTokenizer_Identically_AndRemovesStaleStaging()
    {
        var a = Directory.CreateDirectory(Path.Combine(_dir, "a")).FullName;
        var b = Directory.CreateDirectory(Path.Combine(_dir, "b")).FullName;
        // A staging folder and a hidden file of a run that was killed (no such process): the next import removes them.
        Directory.CreateDirectory(Path.Combine(b, ".modelc-2147483646-0badc0de-m.onnx"));
        File.WriteAllBytes(Path.Combine(b, ".modelc-2147483646-0badc0de-m.onnx.new"), [1, 2, 3]);

        var save = new SaveOptions { ExternalData = ExternalDataMode.Always };
        Llama2cImporter.Import(TestPaths.Checkpoint, TestPaths.Tokenizer, Path.Combine(a, "m.onnx"), save);
        Llama2cImporter.Import(TestPaths.Checkpoint, TestPaths.Tokenizer, Path.Combine(b, "m.onnx"), save);

        Assert.Equal(Snapshot(a), Snapshot(b));
        Assert.Equal(["m.onnx", "m.onnx.data", "m.tokenizer.bin"], Directory.GetFileSystemEntries(b).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(SHA256.HashData(File.ReadAllBytes(TestPaths.Tokenizer)), SHA256.HashData(File.ReadAllBytes(Path.Combine(b, "m.tokenizer.bin"))));
        // The committed model reads its committed side file.
        var loaded = new List<string>();
        OnnxModelIO.Load(Path.Combine(b, "m.onnx"), loaded);
        Assert.Equal([Path.Combine(b, "m.onnx.data")], loaded);
    }

    /// <summary>Name → sha256 of every entry (hidden ones included) in a folder.</summary>
    private static SortedDictionary<string, string> Snapshot(string folder) =>
        new(Directory.GetFileSystemEntries(folder).Where(File.Exists).ToDictionary(
            f => Path.GetFileName(f), f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f)))), StringComparer.Ordinal);
}

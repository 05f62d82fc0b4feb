namespace ModelCompiler.Onnx.Tests;

public sealed class AtomicFileTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string[] Files() => Directory.GetFiles(_dir.Path).Select(Path.GetFileName).Order().ToArray()!;

    [Fact]
    public void WriterThatThrows_LeavesTheOldFileIntact_AndNoTemporaryFile()
    {
        var path = _dir.File("model.onnx");
        File.WriteAllText(path, "old content");

        var e = Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s =>
        {
            s.Write(new byte[100_000]);   // more than the stream buffer, so bytes really hit the temporary file
            throw new InvalidOperationException("boom");
        }));
        Assert.Equal("boom", e.Message);
        Assert.Equal("old content", File.ReadAllText(path));
        Assert.Equal(["model.onnx"], Files());
    }

    [Fact]
    public void WriterThatThrows_WithNoPreviousFile_CreatesNothing()
    {
        var path = _dir.File("new.onnx");
        Assert.Throws<IOException>(() => AtomicFile.Write(path, s => { s.WriteByte(1); throw new IOException("disk full"); }));
        Assert.Empty(Files());
    }

    [Fact]
    public void SuccessfulWrite_ReplacesTheFile_AndLeavesNoTemporaryFile()
    {
        var path = _dir.File("out.bin");
        File.WriteAllText(path, "a much longer old content than the new one");
        AtomicFile.WriteAllBytes(path, [1, 2, 3]);
        Assert.Equal(new byte[] { 1, 2, 3 }, File.ReadAllBytes(path));
        Assert.Equal(["out.bin"], Files());
    }

    [Fact]
    public void WriteAllText_IsUtf8WithoutBom_AndCreatesMissingFolders()
    {
        var path = Path.Combine(_dir.Path, "a", "b", "out.txt");
        AtomicFile.WriteAllText(path, "héllo");
        Assert.Equal(new byte[] { 0x68, 0xC3, 0xA9, 0x6C, 0x6C, 0x6F }, File.ReadAllBytes(path));
    }
}

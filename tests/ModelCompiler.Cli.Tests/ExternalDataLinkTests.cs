using ModelCompiler.Onnx;

namespace ModelCompiler.Cli.Tests;

/// <summary>
/// Symlinked external data: resolved to its real path, accepted inside the model's folder or the same Hugging Face
/// cache repository's blobs/, refused (MC1004) anywhere else or when it is not a regular file.
/// </summary>
[Collection(ModelcCollection.Name)]
public sealed class ExternalDataLinkTests(ModelcFixture f)
{
    /// <summary>The fixture's model saved with its weights in <c>m.onnx.data</c> inside <paramref name="folder"/>; returns the model path.</summary>
    private string SaveWithData(string folder)
    {
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, "m.onnx");
        OnnxModelIO.Save(OnnxModelIO.Load(f.ModelPath), path, new SaveOptions { ExternalData = ExternalDataMode.Always });
        Assert.True(File.Exists(path + ".data"));
        return path;
    }

    /// <summary>Moves the data file to <paramref name="target"/> and leaves a symlink (relative when asked) in its place.</summary>
    private static void MoveAndLink(string model, string target, bool relative = false)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        File.Move(model + ".data", target);
        File.CreateSymbolicLink(model + ".data", relative ? Path.GetRelativePath(Path.GetDirectoryName(model)!, target) : target);
    }

    private static void AssertRefused(string model, string code = "MC1004")
    {
        var e = Assert.Throws<ModelCompilerException>(() => OnnxModelIO.Load(model));
        Assert.Equal(code, e.Code);
    }

    [Fact]
    public void LinkInsideTheModelFolder_IsRead()
    {
        var model = SaveWithData(f.File("xd-inside"));
        var expected = OnnxModelIO.Load(model);
        MoveAndLink(model, Path.Combine(Path.GetDirectoryName(model)!, "weights", "real.data"), relative: true);
        var read = new List<string>();
        Assert.Equal(expected, OnnxModelIO.Load(model, read));
        Assert.Equal([Path.Combine(Path.GetDirectoryName(model)!, "weights", "real.data")], read); // the real path is what was read
    }

    [Fact]
    public void HuggingFaceCacheBlobOfTheSameRepository_IsRead()
    {
        var repo = f.File("xd-hf/hub/models--org--tiny");
        var model = SaveWithData(Path.Combine(repo, "snapshots", "0123abcd"));
        var expected = OnnxModelIO.Load(model);
        MoveAndLink(model, Path.Combine(repo, "blobs", "9f86d081884c7d65"), relative: true);
        Assert.Equal(expected, OnnxModelIO.Load(model));
    }

    [Fact]
    public void HuggingFaceCacheBlobOfAnotherRepository_IsRefused()
    {
        var hub = f.File("xd-hf2/hub");
        var model = SaveWithData(Path.Combine(hub, "models--org--tiny", "snapshots", "0123abcd"));
        MoveAndLink(model, Path.Combine(hub, "models--evil--other", "blobs", "9f86d081884c7d65"), relative: true);
        AssertRefused(model);
    }

    [Fact]
    public void LinkToASystemFile_IsRefused()
    {
        var model = SaveWithData(f.File("xd-passwd"));
        File.Delete(model + ".data");
        File.CreateSymbolicLink(model + ".data", "/etc/passwd");
        AssertRefused(model);
    }

    [Fact]
    public void LinkToASiblingFolder_IsRefused()
    {
        var model = SaveWithData(f.File("xd-sibling/model"));
        MoveAndLink(model, f.File("xd-sibling/elsewhere/w.data"), relative: true);
        AssertRefused(model);
    }

    [Fact]
    public void LinkedFolderLeavingTheModelFolder_IsRefused()
    {
        var model = SaveWithData(f.File("xd-dirlink/model"));
        var outside = Directory.CreateDirectory(f.File("xd-dirlink/outside")).FullName;
        File.Move(model + ".data", Path.Combine(outside, "m.onnx.data"));
        var proto = OnnxModelIO.Load(f.ModelPath);
        Directory.CreateSymbolicLink(Path.Combine(Path.GetDirectoryName(model)!, "sub"), outside);
        OnnxModelIO.Save(proto, model, new SaveOptions { ExternalData = ExternalDataMode.Always, ExternalDataFileName = "sub/m.onnx.data" });
        AssertRefused(model);
    }

    [Fact]
    public void DanglingLink_IsRefused()
    {
        var model = SaveWithData(f.File("xd-dangling"));
        File.Delete(model + ".data");
        File.CreateSymbolicLink(model + ".data", "gone.data");
        AssertRefused(model);
    }

    [Fact]
    public void LinkToAFifoInsideTheFolder_IsRefused_WithoutBlocking()
    {
        var model = SaveWithData(f.File("xd-fifo"));
        File.Delete(model + ".data");
        using (var p = System.Diagnostics.Process.Start("mkfifo", [Path.Combine(Path.GetDirectoryName(model)!, "pipe")])) p.WaitForExit();
        File.CreateSymbolicLink(model + ".data", "pipe");
        AssertRefused(model);
    }

    [Fact]
    public void Compile_WithDataLinkedToASystemFile_Exit2_MC1004()
    {
        var dir = FileSystemCatalogueTests.NewCase(f, "xd-compile");
        var model = Path.Combine(dir, "stories260K.onnx");
        OnnxModelIO.Save(OnnxModelIO.Load(model), model, new SaveOptions { ExternalData = ExternalDataMode.Always });
        File.Delete(model + ".data");
        File.CreateSymbolicLink(model + ".data", "/etc/passwd");
        var before = FileSystemCatalogueTests.Snapshot(dir);
        var r = Modelc.Run(FileSystemCatalogueTests.CompileArgs(dir, "--output", Path.Combine(dir, "out", "q.onnx")));
        Assert.True(r.ExitCode == 2 && r.StdErr.Contains("error MC1004", StringComparison.Ordinal), r.ToString());
        Assert.Equal(before, FileSystemCatalogueTests.Snapshot(dir));
    }
}

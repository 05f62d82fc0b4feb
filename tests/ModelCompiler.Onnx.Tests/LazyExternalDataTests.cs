using ModelCompiler.Onnx.Proto;
using DataLocation = ModelCompiler.Onnx.Proto.TensorProto.Types.DataLocation;

namespace ModelCompiler.Onnx.Tests;

/// <summary>A model loaded with lazy external data holds no tensor bytes, yet reads, saves and refers back like an eager one.</summary>
public sealed class LazyExternalDataTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string SavedExternal()
    {
        var path = _dir.File("m.onnx");
        OnnxModelIO.Save(TestModels.Mlp(), path, new SaveOptions { ExternalData = ExternalDataMode.Always });
        return path;
    }

    [Fact]
    public void LazyLoad_KeepsBytesOnDisk_AndGivesTheSameBytesAsAnEagerLoad()
    {
        var path = SavedExternal();
        var files = new List<string>();
        var lazy = OnnxModelIO.Load(path, files, lazyExternalData: true);
        var eager = OnnxModelIO.Load(path);

        Assert.Equal([_dir.File("m.onnx.data")], files);
        var eagerTensors = OnnxModelIO.AllTensors(eager.Graph).ToDictionary(t => t.Name);
        var lazyTensors = OnnxModelIO.AllTensors(lazy.Graph).ToList();
        Assert.Equal(["c_value", "w1", "w2"], lazyTensors.Where(t => ExternalTensorBytes.Of(t) is not null).Select(t => t.Name).Order());
        foreach (var t in lazyTensors)
        {
            Assert.Equal(DataLocation.Default, t.DataLocation);
            Assert.Equal(eagerTensors[t.Name].RawData.Length, t.RawData.Length);
            Assert.Equal(eagerTensors[t.Name].RawData.ToByteArray(), t.RawData.ToByteArray());
        }
        Assert.Null(ExternalTensorBytes.Of(eagerTensors["w1"]));
    }

    [Fact]
    public void SavingALazyModel_WritesTheSameFilesAsSavingTheEagerOne()
    {
        var path = SavedExternal();
        var fromLazy = _dir.File("lazy/m.onnx");
        var fromEager = _dir.File("eager/m.onnx");
        var options = new SaveOptions { ExternalData = ExternalDataMode.Always };
        OnnxModelIO.Save(OnnxModelIO.Load(path, lazyExternalData: true), fromLazy, options);
        OnnxModelIO.Save(OnnxModelIO.Load(path), fromEager, options);

        Assert.Equal(File.ReadAllBytes(fromEager), File.ReadAllBytes(fromLazy));
        Assert.Equal(File.ReadAllBytes(fromEager + ".data"), File.ReadAllBytes(fromLazy + ".data"));
    }

    [Fact]
    public void WithExternalReferences_PointsEveryLazyTensorBackAtItsOriginalPlace()
    {
        var path = SavedExternal();
        var onDisk = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        var referenced = OnnxModelIO.WithExternalReferences(OnnxModelIO.Load(path, lazyExternalData: true));

        Assert.NotNull(referenced);
        // The same tensor entries as the file the model came from: ORT reads the weights where they are.
        Assert.Equal(onDisk.Graph.ToString(), referenced!.Graph.ToString());
        Assert.Null(OnnxModelIO.WithExternalReferences(OnnxModelIO.Load(path)));
    }

    [Fact]
    public void LazyTensor_WhoseFileShrank_FailsWithMc1003_WhenRead()
    {
        var path = SavedExternal();
        var lazy = OnnxModelIO.Load(path, lazyExternalData: true);
        File.WriteAllBytes(path + ".data", new byte[16]);
        var w2 = OnnxModelIO.AllTensors(lazy.Graph).Single(t => t.Name == "w2");

        var e = Assert.Throws<ModelCompilerException>(() => w2.RawData.ToByteArray());
        Assert.Equal("MC1003", e.Code);
    }

    [Fact]
    public void ComputedTensor_IsProducedOnlyWhenSaved_OncePerWrite_AndSavesLikeTheSameBytesInMemory()
    {
        var values = Enumerable.Range(0, 4096).Select(i => (byte)(i * 7 % 251)).ToArray();
        var calls = 0;
        var model = TestModels.Mlp();
        var computed = new TensorProto { Name = "computed", DataType = (int)TensorProto.Types.DataType.Uint8, Dims = { values.Length } };
        computed.RawData = new ComputedTensorBytes(values.Length, () => { Interlocked.Increment(ref calls); return (byte[])values.Clone(); }).AsByteString();
        model.Graph.Initializer.Add(computed);

        // Sizes, clones and the lazy check never produce the bytes.
        var clone = model.Clone();
        Assert.Equal(values.Length, clone.Graph.Initializer.Single(t => t.Name == "computed").RawData.Length);
        Assert.True(LazyTensorBytes.IsLazy(computed));
        Assert.Null(ExternalTensorBytes.Of(computed));
        Assert.Equal(0, calls);

        var options = new SaveOptions { ExternalData = ExternalDataMode.Always };
        OnnxModelIO.Save(clone, _dir.File("lazy/m.onnx"), options);
        Assert.Equal(1, calls);

        var eager = TestModels.Mlp();
        eager.Graph.Initializer.Add(TensorData.UInt8s("computed", values, values.Length));
        OnnxModelIO.Save(eager, _dir.File("eager/m.onnx"), options);
        Assert.Equal(File.ReadAllBytes(_dir.File("eager/m.onnx")), File.ReadAllBytes(_dir.File("lazy/m.onnx")));
        Assert.Equal(File.ReadAllBytes(_dir.File("eager/m.onnx.data")), File.ReadAllBytes(_dir.File("lazy/m.onnx.data")));
    }

    [Fact]
    public void ComputedTensor_ThatProducesTheWrongLength_FailsInsteadOfWritingIt()
    {
        var model = TestModels.Mlp();
        var bad = new TensorProto { Name = "bad", DataType = (int)TensorProto.Types.DataType.Uint8, Dims = { 2048 } };
        bad.RawData = new ComputedTensorBytes(2048, () => new byte[2047]).AsByteString();
        model.Graph.Initializer.Add(bad);
        var path = _dir.File("bad/m.onnx");

        Assert.Throws<InvalidOperationException>(() => OnnxModelIO.Save(model, path, new SaveOptions { ExternalData = ExternalDataMode.Always }));
        Assert.False(File.Exists(path));
        Assert.False(File.Exists(path + ".data"));
    }
}

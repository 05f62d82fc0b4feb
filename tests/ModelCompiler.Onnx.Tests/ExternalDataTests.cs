using System.Globalization;
using ModelCompiler.Onnx.Proto;
using DataLocation = ModelCompiler.Onnx.Proto.TensorProto.Types.DataLocation;

namespace ModelCompiler.Onnx.Tests;

public sealed class ExternalDataTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static Dictionary<string, string> Entries(TensorProto t) => t.ExternalData.ToDictionary(e => e.Key, e => e.Value);

    /// <summary>Reads the saved model file as it is on disk (external references not resolved).</summary>
    private static ModelProto ReadRaw(string path) => ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));

    [Fact]
    public void AlwaysMode_WritesSideFile_WithAlignedOffsets_AndLoadRestoresIdenticalBytes()
    {
        var original = TestModels.Mlp();
        var path = _dir.File("m.onnx");
        var dataPath = OnnxModelIO.Save(original, path, new SaveOptions { ExternalData = ExternalDataMode.Always });

        Assert.Equal(_dir.File("m.onnx.data"), dataPath);
        Assert.True(File.Exists(dataPath));
        var data = File.ReadAllBytes(dataPath!);

        var onDisk = ReadRaw(path);
        var originalTensors = OnnxModelIO.AllTensors(original.Graph).ToDictionary(t => t.Name);
        var external = OnnxModelIO.AllTensors(onDisk.Graph).Where(t => t.DataLocation == DataLocation.External).ToList();
        // w1 (2048 B), w2 (3072 B) and the Constant's attribute tensor (1152 B) go out; b (128 B) stays inline.
        Assert.Equal(["c_value", "w1", "w2"], external.Select(t => t.Name).Order());
        foreach (var t in external)
        {
            var e = Entries(t);
            Assert.Equal("m.onnx.data", e["location"]);
            var offset = long.Parse(e["offset"], CultureInfo.InvariantCulture);
            var length = long.Parse(e["length"], CultureInfo.InvariantCulture);
            Assert.Equal(0, offset % 4096);
            Assert.True(t.RawData.IsEmpty);
            Assert.Equal(originalTensors[t.Name].RawData.ToByteArray(), data.AsSpan((int)offset, (int)length).ToArray());
        }
        var inline = onDisk.Graph.Initializer.Single(t => t.Name == "b");
        Assert.Equal(DataLocation.Default, inline.DataLocation);
        Assert.Equal(originalTensors["b"].RawData, inline.RawData);

        // The model passed in is not modified.
        Assert.Equal(TestModels.Mlp(), original);

        var loaded = OnnxModelIO.Load(path);
        Assert.Equal(original, loaded);
        foreach (var t in OnnxModelIO.AllTensors(loaded.Graph))
        {
            Assert.Equal(DataLocation.Default, t.DataLocation);
            Assert.Empty(t.ExternalData);
            Assert.Equal(originalTensors[t.Name].RawData.ToByteArray(), t.RawData.ToByteArray());
        }
    }

    [Fact]
    public void AlwaysMode_HonoursFileNameAndMinimumTensorSize()
    {
        var path = _dir.File("m.onnx");
        var dataPath = OnnxModelIO.Save(TestModels.Mlp(), path,
            new SaveOptions { ExternalData = ExternalDataMode.Always, ExternalDataFileName = "weights.bin", ExternalDataMinTensorBytes = 2500 });
        Assert.Equal(_dir.File("weights.bin"), dataPath);
        var external = OnnxModelIO.AllTensors(ReadRaw(path).Graph).Where(t => t.DataLocation == DataLocation.External).ToList();
        Assert.Equal(["w2"], external.Select(t => t.Name));
        Assert.Equal("weights.bin", Entries(external[0])["location"]);
        Assert.Equal(TestModels.Mlp(), OnnxModelIO.Load(path));
    }

    [Fact]
    public void AutoMode_SwitchesToExternalDataAboveTheThreshold()
    {
        var model = TestModels.Mlp();
        var total = OnnxModelIO.AllTensors(model.Graph).Sum(t => (long)t.RawData.Length);

        var inlinePath = _dir.File("inline.onnx");
        Assert.Null(OnnxModelIO.Save(model, inlinePath, new SaveOptions { ExternalDataThresholdBytes = total }));
        Assert.False(File.Exists(inlinePath + ".data"));
        Assert.DoesNotContain(OnnxModelIO.AllTensors(ReadRaw(inlinePath).Graph), t => t.DataLocation == DataLocation.External);

        var externalPath = _dir.File("external.onnx");
        var dataPath = OnnxModelIO.Save(model, externalPath, new SaveOptions { ExternalDataThresholdBytes = total - 1 });
        Assert.NotNull(dataPath);
        Assert.True(File.Exists(dataPath));
        Assert.Contains(OnnxModelIO.AllTensors(ReadRaw(externalPath).Graph), t => t.DataLocation == DataLocation.External);
        Assert.True(new FileInfo(externalPath).Length < new FileInfo(inlinePath).Length);

        Assert.Equal(OnnxModelIO.Load(inlinePath), OnnxModelIO.Load(externalPath));
    }

    [Fact]
    public void NeverMode_KeepsEverythingInline()
    {
        var path = _dir.File("m.onnx");
        Assert.Null(OnnxModelIO.Save(TestModels.Mlp(), path, new SaveOptions { ExternalData = ExternalDataMode.Never, ExternalDataThresholdBytes = 1 }));
        Assert.Equal(["m.onnx"], Directory.GetFiles(_dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void MissingSideFile_IsMC1003()
    {
        var path = _dir.File("m.onnx");
        var dataPath = OnnxModelIO.Save(TestModels.Mlp(), path, new SaveOptions { ExternalData = ExternalDataMode.Always })!;
        File.Delete(dataPath);

        var e = Assert.Throws<ModelCompilerException>(() => OnnxModelIO.Load(path));
        Assert.Equal("MC1003", e.Code);
        Assert.Equal(path, e.File);
        Assert.Contains("m.onnx.data", e.Message);
    }

    [Fact]
    public void SideFileShorterThanNeeded_IsMC1003()
    {
        var path = _dir.File("m.onnx");
        var dataPath = OnnxModelIO.Save(TestModels.Mlp(), path, new SaveOptions { ExternalData = ExternalDataMode.Always })!;
        var bytes = File.ReadAllBytes(dataPath);
        File.WriteAllBytes(dataPath, bytes[..^1]); // one byte short for the last tensor

        var e = Assert.Throws<ModelCompilerException>(() => OnnxModelIO.Load(path));
        Assert.Equal("MC1003", e.Code);
        Assert.Equal(path, e.File);
        Assert.Contains("too short", e.Message);
    }

    [Theory]
    [InlineData(-1L, 64L)]
    [InlineData(0L, 65L)]
    [InlineData(1L, 64L)]
    public void OffsetOrLengthOutsideTheSideFile_IsMC1003(long offset, long length)
    {
        File.WriteAllBytes(_dir.File("w.bin"), new byte[64]);
        var path = _dir.File("m.onnx");
        TestModels.WriteRaw(TestModels.WithExternalTensor("w.bin", offset, length), path);
        var e = Assert.Throws<ModelCompilerException>(() => OnnxModelIO.Load(path));
        Assert.Equal("MC1003", e.Code);
    }

    [Fact]
    public void ExternalTensorWithoutLocation_IsMC1003()
    {
        var model = TestModels.WithExternalTensor("w.bin");
        model.Graph.Initializer[0].ExternalData.RemoveAt(0);
        var path = _dir.File("m.onnx");
        TestModels.WriteRaw(model, path);
        Assert.Equal("MC1003", Assert.Throws<ModelCompilerException>(() => OnnxModelIO.Load(path)).Code);
    }

    [Fact]
    public void RelativeLocationInASubfolder_IsRead()
    {
        var values = TestModels.Values(16, 42);
        Directory.CreateDirectory(_dir.File("sub"));
        var bytes = new byte[8 + 64];
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).CopyTo(bytes.AsSpan(8));
        File.WriteAllBytes(_dir.File("sub/w.bin"), bytes);
        var path = _dir.File("m.onnx");
        TestModels.WriteRaw(TestModels.WithExternalTensor("sub/../sub/w.bin", offset: 8), path);

        var loaded = OnnxModelIO.Load(path);
        Assert.Equal(values, TensorData.ReadFloats(loaded.Graph.Initializer[0]));
    }

    /// <summary>64 recognisable bytes: exactly the 16 floats the tensor asks for.</summary>
    private static readonly byte[] Secret = "TOP-SECRET-0123456789-TOP-SECRET-0123456789-TOP-SECRET-012345678"u8.ToArray();

    /// <summary>
    /// Writes <see cref="Secret"/> with an access time in the past. On Linux (relatime), reading the file moves the
    /// access time to now, so an unchanged access time afterwards shows that nobody read it.
    /// </summary>
    private static void WriteSecret(string path)
    {
        Assert.Equal(64, Secret.Length);
        File.WriteAllBytes(path, Secret);
        File.SetLastAccessTimeUtc(path, new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc));
    }

    private void AssertSecretNotRead(string secretPath, ModelCompilerException e)
    {
        // Nothing of the secret surfaces: not in the error, not in any file in the test folder but the secret itself.
        var marker = System.Text.Encoding.ASCII.GetString(Secret, 0, 10);
        Assert.DoesNotContain(marker, e.ToString());
        foreach (var file in Directory.GetFiles(_dir.Path, "*", SearchOption.AllDirectories).Where(p => p != secretPath))
            Assert.True(File.ReadAllBytes(file).AsSpan().IndexOf(Secret.AsSpan(0, 10)) < 0, $"secret bytes found in {file}");

        var accessed = File.GetLastAccessTimeUtc(secretPath);
        Assert.True(accessed.Year == 2000, $"the secret was read (access time {accessed:O})");
    }

    /// <summary>
    /// A model names a file outside its folder. The target exists and is exactly as long as the tensor needs, so if
    /// the loader read it the load would succeed; it must refuse with MC1004 instead, before reading anything.
    /// </summary>
    [Theory]
    [InlineData("../secret.bin")]
    [InlineData("sub/../../secret.bin")]
    [InlineData("..\\secret.bin")]
    [InlineData("sub\\..\\..\\secret.bin")]
    [InlineData("./../model/../secret.bin")]
    public void EscapingLocation_IsMC1004_AndTheTargetIsNotRead(string location)
    {
        var secret = _dir.File("secret.bin");
        WriteSecret(secret);
        var modelDir = Directory.CreateDirectory(_dir.File("model")).FullName;
        Directory.CreateDirectory(Path.Combine(modelDir, "sub"));
        var path = Path.Combine(modelDir, "m.onnx");
        TestModels.WriteRaw(TestModels.WithExternalTensor(location), path);

        var e = Assert.Throws<ModelCompilerException>(() => OnnxModelIO.Load(path));
        Assert.Equal("MC1004", e.Code);
        Assert.Equal(path, e.File);
        Assert.Contains("escapes", e.Message);
        AssertSecretNotRead(secret, e);
    }

    [Fact]
    public void AccessTimeCheck_DetectsARead()
    {
        // The access-time evidence used above works on this machine: a real read is seen.
        var secret = _dir.File("probe.bin");
        WriteSecret(secret);
        Assert.Equal(2000, File.GetLastAccessTimeUtc(secret).Year);
        using (var s = File.OpenRead(secret)) s.ReadExactly(new byte[8]);
        var after = File.GetLastAccessTimeUtc(secret);
        if (OperatingSystem.IsLinux()) Assert.True(after.Year > 2000, $"access time {after:O} did not move on a read; the not-read checks are vacuous here");
    }

    [Theory]
    [InlineData("/etc/passwd")]
    [InlineData("/etc/hostname")]
    [InlineData("C:\\Windows\\win.ini")]
    [InlineData("c:secret.bin")]
    [InlineData("\\\\server\\share\\secret.bin")]
    public void AbsoluteLocation_IsMC1004(string location)
    {
        var path = _dir.File("m.onnx");
        // length 0 ... file length: with an existing /etc/passwd and no explicit length the read would succeed.
        var model = TestModels.WithExternalTensor(location);
        model.Graph.Initializer[0].ExternalData.RemoveAt(2);
        model.Graph.Initializer[0].Dims.Clear();
        model.Graph.Initializer[0].DataType = (int)TensorProto.Types.DataType.Uint8;
        model.Graph.Initializer[0].Dims.Add(1);
        TestModels.WriteRaw(model, path);

        var e = Assert.Throws<ModelCompilerException>(() => OnnxModelIO.Load(path));
        Assert.Equal("MC1004", e.Code);
        Assert.Equal(path, e.File);
        Assert.Contains("absolute", e.Message);
    }

    [Fact]
    public void AbsoluteLocation_ToAnExistingFileInTheModelsOwnFolder_IsStillRejectedUnread()
    {
        // Even a path that would resolve inside the folder is refused when written absolutely (ONNX requires relative).
        var secret = _dir.File("w.bin");
        WriteSecret(secret);
        var path = _dir.File("m.onnx");
        TestModels.WriteRaw(TestModels.WithExternalTensor(secret), path);
        var e = Assert.Throws<ModelCompilerException>(() => OnnxModelIO.Load(path));
        Assert.Equal("MC1004", e.Code);
        AssertSecretNotRead(secret, e);
    }

    [Theory]
    [InlineData("w.bin", true)]
    [InlineData("a/b/../w.bin", true)]
    [InlineData("..", false)]
    [InlineData("../model", false)]
    [InlineData("../model2/w.bin", false)]
    [InlineData("a/../../w.bin", false)]
    [InlineData("/w.bin", false)]
    public void ResolveExternalLocation_StaysInsideTheModelFolder(string location, bool allowed)
    {
        // "model2" shares a prefix with "model": a naive StartsWith without the separator would let it through.
        var modelDir = Path.Combine(_dir.Path, "model");
        if (allowed)
        {
            var resolved = OnnxModelIO.ResolveExternalLocation(location, modelDir, "t", "m.onnx");
            Assert.StartsWith(modelDir + Path.DirectorySeparatorChar, resolved);
        }
        else
        {
            var e = Assert.Throws<ModelCompilerException>(() => OnnxModelIO.ResolveExternalLocation(location, modelDir, "t", "m.onnx"));
            Assert.Equal("MC1004", e.Code);
            Assert.Equal("m.onnx", e.File);
        }
    }
}

using System.Buffers;
using System.Runtime.InteropServices;
using Google.Protobuf;
using ModelCompiler.Onnx.Proto;

namespace ModelCompiler.Onnx;

/// <summary>How <see cref="OnnxModelIO.Save"/> stores tensor data.</summary>
public enum ExternalDataMode
{
    /// <summary>External data only when the inline model would exceed <see cref="SaveOptions.ExternalDataThresholdBytes"/>.</summary>
    Auto,
    /// <summary>Always write large initializers to a side file.</summary>
    Always,
    /// <summary>Everything inline (fails above protobuf's 2 GiB limit).</summary>
    Never,
}

public sealed record SaveOptions
{
    public ExternalDataMode ExternalData { get; init; } = ExternalDataMode.Auto;

    /// <summary>Total initializer bytes above which <see cref="ExternalDataMode.Auto"/> switches to a side file.
    /// Protobuf cannot serialize messages over 2 GiB; 1 GiB leaves room for the graph itself.</summary>
    public long ExternalDataThresholdBytes { get; init; } = 1L << 30;

    /// <summary>Tensors smaller than this stay inline even in an external-data model (as the onnx Python helper does).</summary>
    public int ExternalDataMinTensorBytes { get; init; } = 1024;

    /// <summary>File name of the side file, relative to the model's folder; default "&lt;model file name&gt;.data".</summary>
    public string? ExternalDataFileName { get; init; }

    public static SaveOptions Default { get; } = new();
}

/// <summary>Loads and saves ONNX models, including tensor data stored in side files ("external data").</summary>
public static class OnnxModelIO
{
    /// <summary>Offsets in the side file are aligned so that runtimes can memory-map tensors.</summary>
    private const int ExternalAlignment = 4096;

    /// <summary>
    /// Loads a model. External tensor data is read into <c>raw_data</c>, so the returned model is
    /// self-contained. A <c>location</c> that is absolute or leaves the model's folder is rejected before
    /// anything is read from it.
    /// </summary>
    /// <param name="path">The .onnx file.</param>
    /// <param name="externalFilesRead">When given, receives the full path of every external data file read.</param>
    /// <param name="lazyExternalData">
    /// Keep external tensor data on disk: each such tensor's <c>raw_data</c> is read from its file every time its bytes
    /// are asked for (<see cref="ExternalTensorBytes"/>), so the model in memory holds no weights. Its lengths are known
    /// without reading. Do not overwrite the data files while the model is in use.
    /// </param>
    public static ModelProto Load(string path, ICollection<string>? externalFilesRead = null, bool lazyExternalData = false)
    {
        var fullPath = Path.GetFullPath(path);
        if (!File.Exists(fullPath))
            throw new ModelCompilerException("MC1001", "model file not found; check the path.", fullPath);
        if (FileNode.Stat(fullPath).Kind != FileKind.Regular)
            throw new ModelCompilerException("MC1070", "the model is not a regular file (a FIFO, socket or device); give a file.", fullPath);

        ModelProto model;
        try
        {
            using var stream = File.OpenRead(fullPath);
            model = ModelProto.Parser.ParseFrom(stream);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new ModelCompilerException("MC1002", $"not a valid ONNX model (truncated or corrupt protobuf: {e.Message}).", fullPath, inner: e);
        }

        if (model.Graph is null || model.IrVersion <= 0)
            throw new ModelCompilerException("MC1002", "not a valid ONNX model (no graph or no IR version).", fullPath);
        ModelGuard.Check(model, fullPath); // unique metadata; tensor shapes, types and data lengths before anything reads them

        var modelDir = Path.GetDirectoryName(fullPath)!;
        var handles = new Dictionary<string, FileStream>(StringComparer.Ordinal);
        try
        {
            foreach (var tensor in AllTensors(model.Graph))
            {
                if (tensor.DataLocation == TensorProto.Types.DataLocation.External)
                    LoadExternal(tensor, modelDir, fullPath, handles, lazyExternalData);
            }
        }
        finally
        {
            foreach (var h in handles.Values) h.Dispose();
        }
        if (externalFilesRead is not null)
            foreach (var file in handles.Keys.Order(StringComparer.Ordinal)) externalFilesRead.Add(file);
        return model;
    }

    /// <summary>
    /// Saves a model atomically (temporary files, then rename). Does not modify <paramref name="model"/>.
    /// Returns the external data file written, or null.
    /// </summary>
    public static string? Save(ModelProto model, string path, SaveOptions? options = null)
    {
        options ??= SaveOptions.Default;
        var fullPath = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(fullPath)!;
        Directory.CreateDirectory(dir);

        var tensors = AllTensors(model.Graph).ToList();
        var totalBytes = tensors.Sum(t => (long)t.RawData.Length);
        var external = options.ExternalData switch
        {
            ExternalDataMode.Always => true,
            ExternalDataMode.Never => false,
            _ => totalBytes > options.ExternalDataThresholdBytes,
        };

        if (!external)
        {
            AtomicFile.Write(fullPath, s => model.WriteTo(s));
            return null;
        }

        var dataName = options.ExternalDataFileName ?? Path.GetFileName(fullPath) + ".data";
        var dataPath = Path.Combine(dir, dataName);
        var copy = model.Clone();
        AtomicFile.Write(dataPath, data =>
        {
            var large = AllTensors(copy.Graph).Where(t => t.RawData.Length >= options.ExternalDataMinTensorBytes).ToList();
            // Lazy tensors are produced (read or computed) one ahead, on another thread, while the previous one is
            // written: at most two tensors' bytes are held, and the order and bytes of the file are those of a plain loop.
            Task<ReadOnlyMemory<byte>>? ahead = null;
            for (var i = 0; i < large.Count; i++)
            {
                var tensor = large[i];
                var bytes = ahead is null ? Bytes(tensor) : ahead.GetAwaiter().GetResult();
                var following = i + 1 < large.Count ? large[i + 1] : null;
                ahead = following is not null && LazyTensorBytes.IsLazy(following) ? Task.Run(() => Bytes(following)) : null;
                var pad = (ExternalAlignment - data.Position % ExternalAlignment) % ExternalAlignment;
                if (pad > 0) data.Write(new byte[pad]);
                var offset = data.Position;
                data.Write(bytes.Span);
                tensor.RawData = ByteString.Empty;
                tensor.DataLocation = TensorProto.Types.DataLocation.External;
                tensor.ExternalData.Clear();
                tensor.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = dataName });
                tensor.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString(System.Globalization.CultureInfo.InvariantCulture) });
                tensor.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = bytes.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) });
            }
        });
        AtomicFile.Write(fullPath, s => copy.WriteTo(s));
        return dataPath;
    }

    /// <summary>A tensor's bytes, produced once when they are lazy (a fresh array, not copied again), else the bytes held.</summary>
    private static ReadOnlyMemory<byte> Bytes(TensorProto tensor) =>
        MemoryMarshal.TryGetMemoryManager<byte, LazyTensorBytes>(tensor.RawData.Memory, out var lazy) ? lazy.Produced() : tensor.RawData.Memory;

    /// <summary>
    /// A copy of <paramref name="model"/> in which every tensor loaded lazily (<see cref="Load"/> with
    /// <c>lazyExternalData</c>) refers again to its place in the original external data file, so that ONNX Runtime
    /// can read it there: serialize the copy and give ORT the model's folder
    /// (<c>session.model_external_initializers_file_folder_path</c>). Null when no tensor is lazy.
    /// </summary>
    public static ModelProto? WithExternalReferences(ModelProto model)
    {
        var copy = model.Clone();
        var any = false;
        foreach (var tensor in AllTensors(copy.Graph))
        {
            if (ExternalTensorBytes.Of(tensor) is not { } source) continue;
            any = true;
            tensor.RawData = ByteString.Empty;
            tensor.DataLocation = TensorProto.Types.DataLocation.External;
            tensor.ExternalData.Clear();
            tensor.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = source.Location });
            tensor.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = source.Offset.ToString(System.Globalization.CultureInfo.InvariantCulture) });
            tensor.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = source.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        }
        return any ? copy : null;
    }

    /// <summary>Every tensor that carries data: initializers and Constant/attribute tensors, subgraphs included.</summary>
    public static IEnumerable<TensorProto> AllTensors(GraphProto graph)
    {
        foreach (var t in graph.Initializer) yield return t;
        foreach (var node in graph.Node)
        {
            foreach (var a in node.Attribute)
            {
                if (a.T is not null) yield return a.T;
                foreach (var t in a.Tensors) yield return t;
                if (a.G is not null)
                    foreach (var t in AllTensors(a.G)) yield return t;
                foreach (var g in a.Graphs)
                    foreach (var t in AllTensors(g)) yield return t;
            }
        }
    }

    private static void LoadExternal(TensorProto tensor, string modelDir, string modelPath, Dictionary<string, FileStream> handles, bool lazy)
    {
        string? location = null;
        long offset = 0, length = -1;
        foreach (var kv in tensor.ExternalData)
        {
            switch (kv.Key)
            {
                case "location": location = kv.Value; break;
                case "offset": offset = ParseLong(kv.Value, "offset", tensor, modelPath); break;
                case "length": length = ParseLong(kv.Value, "length", tensor, modelPath); break;
            }
        }
        if (string.IsNullOrEmpty(location))
            throw new ModelCompilerException("MC1003", $"tensor '{tensor.Name}' is stored externally but has no 'location'.", modelPath);

        var dataPath = ExternalDataGuard.RealPathToRead(ResolveExternalLocation(location, modelDir, tensor.Name, modelPath), modelDir, location, tensor.Name, modelPath);
        if (!handles.TryGetValue(dataPath, out var stream))
        {
            if (!File.Exists(dataPath))
                throw new ModelCompilerException("MC1003", $"external data file '{location}' of tensor '{tensor.Name}' not found (looked in {dataPath}); keep it beside the model.", modelPath);
            stream = File.OpenRead(dataPath);
            handles[dataPath] = stream;
        }

        if (length < 0)
        {
            length = ExpectedByteLength(tensor);
            if (length < 0) length = stream.Length - offset;
        }
        if (offset < 0 || length > Array.MaxLength || offset > stream.Length - length)
            throw new ModelCompilerException("MC1003",
                $"external data file '{location}' is too short for tensor '{tensor.Name}': needs bytes {offset}..{offset + length}, file has {stream.Length}.", modelPath);

        if (lazy)
        {
            tensor.RawData = new ExternalTensorBytes(dataPath, location, offset, (int)length).AsByteString();
        }
        else
        {
            var buffer = new byte[length];
            stream.Position = offset;
            stream.ReadExactly(buffer);
            tensor.RawData = UnsafeByteOperations.UnsafeWrap(buffer);
        }
        tensor.DataLocation = TensorProto.Types.DataLocation.Default;
        tensor.ExternalData.Clear();
    }

    /// <summary>
    /// Resolves an external data location against the model's folder. Absolute paths and paths that climb out
    /// of the folder are rejected: a model is data and must not make us read arbitrary files.
    /// </summary>
    public static string ResolveExternalLocation(string location, string modelDir, string tensorName, string modelPath)
    {
        if (Path.IsPathRooted(location) || location.StartsWith('/') || location.StartsWith('\\') || location.Contains(':'))
            throw new ModelCompilerException("MC1004",
                $"external data location '{location}' of tensor '{tensorName}' is absolute; ONNX requires a path relative to the model's folder. Refusing to read it.", modelPath);

        var root = Path.GetFullPath(modelDir).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
        var resolved = Path.GetFullPath(Path.Combine(root, location.Replace('\\', '/')));
        if (!resolved.StartsWith(root, StringComparison.Ordinal))
            throw new ModelCompilerException("MC1004",
                $"external data location '{location}' of tensor '{tensorName}' escapes the model's folder. Refusing to read it.", modelPath);
        return resolved;
    }

    private static long ParseLong(string value, string key, TensorProto tensor, string modelPath)
    {
        if (!long.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n))
            throw new ModelCompilerException("MC1003", $"tensor '{tensor.Name}' has an invalid external data {key} '{value}'.", modelPath);
        return n;
    }

    private static long ExpectedByteLength(TensorProto tensor)
    {
        var size = TensorData.ElementSize((TensorProto.Types.DataType)tensor.DataType);
        if (size <= 0) return -1;
        long count = 1;
        foreach (var d in tensor.Dims) count *= d;
        return count * size;
    }
}

/// <summary>
/// Tensor bytes that are not held in memory but produced each time they are asked for (<see cref="GetSpan"/>) and
/// never kept: read from a file (<see cref="ExternalTensorBytes"/>) or computed (<see cref="ComputedTensorBytes"/>).
/// A model whose large tensors are wrapped this way holds no weights, and a pass over its tensors (statistics,
/// transform, save) holds one tensor at a time. The length is known without producing the bytes, so sizes, clones
/// and the save's layout cost nothing.
/// </summary>
public abstract class LazyTensorBytes : MemoryManager<byte>
{
    protected LazyTensorBytes(int length) => Length = length;

    public int Length { get; }

    /// <summary>True when <paramref name="tensor"/>'s bytes are produced on demand rather than held.</summary>
    public static bool IsLazy(TensorProto tensor) => MemoryMarshal.TryGetMemoryManager<byte, LazyTensorBytes>(tensor.RawData.Memory, out _);

    /// <summary>A <see cref="ByteString"/> over these bytes (for <c>TensorProto.RawData</c>); produces nothing yet.</summary>
    public ByteString AsByteString() => UnsafeByteOperations.UnsafeWrap(Memory);

    // The base class would call GetSpan() just to learn the length, producing the bytes once for nothing.
    public override Memory<byte> Memory => CreateMemory(Length);

    /// <summary>A fresh copy of the bytes.</summary>
    public override Span<byte> GetSpan() => Next();

    /// <summary>A fresh copy of the bytes, as the array itself.</summary>
    public byte[] Produced() => Next();

    /// <summary>Bytes handed out since the last collection. The copies die young but are large-object-heap arrays,
    /// which the GC collects only in full collections: without a nudge a pass over a model's weights keeps most of them.</summary>
    private static long _producedSinceCollect;
    private const long CollectEveryBytes = 256L << 20;

    private byte[] Next()
    {
        if (Interlocked.Add(ref _producedSinceCollect, Length) > CollectEveryBytes)
        {
            Interlocked.Exchange(ref _producedSinceCollect, 0);
            System.Runtime.GCSettings.LargeObjectHeapCompactionMode = System.Runtime.GCLargeObjectHeapCompactionMode.CompactOnce;
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        }
        var bytes = Produce();
        if (bytes.Length != Length)
            throw new InvalidOperationException($"lazy tensor produced {bytes.Length} bytes, declared {Length}");
        return bytes;
    }

    /// <summary>The bytes, exactly <see cref="Length"/> of them, in a new array the caller owns.</summary>
    protected abstract byte[] Produce();

    public override unsafe MemoryHandle Pin(int elementIndex = 0)
    {
        var pinned = GCHandle.Alloc(Next(), GCHandleType.Pinned);
        return new MemoryHandle((byte*)pinned.AddrOfPinnedObject() + elementIndex, pinned);
    }

    public override void Unpin() { }

    protected override void Dispose(bool disposing) { }
}

/// <summary>Tensor bytes computed when asked for, e.g. a weight quantized while the model is saved: see <see cref="LazyTensorBytes"/>.
/// <paramref name="compute"/> must give the same bytes every time (and may be called from any thread).</summary>
public sealed class ComputedTensorBytes(int length, Func<byte[]> compute) : LazyTensorBytes(length)
{
    protected override byte[] Produce() => compute();
}

/// <summary>
/// The bytes of one externally stored tensor, read from the file each time they are asked for: see
/// <see cref="LazyTensorBytes"/>. Reads go through the page cache.
/// </summary>
public sealed class ExternalTensorBytes : LazyTensorBytes
{
    internal ExternalTensorBytes(string path, string location, long offset, int length) : base(length)
    {
        Path = path;
        Location = location;
        Offset = offset;
    }

    /// <summary>The data file (real path).</summary>
    public string Path { get; }
    /// <summary>The tensor's <c>location</c> as the model wrote it (relative to the model's folder).</summary>
    public string Location { get; }
    public long Offset { get; }

    /// <summary>The lazy source of <paramref name="tensor"/>'s bytes, or null when they are in memory.</summary>
    public static ExternalTensorBytes? Of(TensorProto tensor) =>
        MemoryMarshal.TryGetMemoryManager<byte, ExternalTensorBytes>(tensor.RawData.Memory, out var source) ? source : null;

    protected override byte[] Produce()
    {
        var buffer = GC.AllocateUninitializedArray<byte>(Length);
        using var handle = File.OpenHandle(Path);
        var done = 0;
        while (done < Length)
        {
            var n = RandomAccess.Read(handle, buffer.AsSpan(done), Offset + done);
            if (n <= 0)
                throw new ModelCompilerException("MC1003", $"external data file '{Location}' became shorter while the model was in use (needs bytes {Offset}..{Offset + Length}).", Path);
            done += n;
        }
        return buffer;
    }
}

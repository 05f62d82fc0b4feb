using System.Globalization;
using Google.Protobuf;
using ModelCompiler.Compilation;
using ModelCompiler.Core.Tests.Compilation;
using ModelCompiler.Import;
using ModelCompiler.Onnx;
using ModelCompiler.Onnx.Proto;
using ModelCompiler.Runtime;

namespace ModelCompiler.Tests.Reliability;

/// <summary>
/// A seeded mutation fuzzer over ONNX model bytes (issue 8). Seeds: stories260K imported from its llama2.c checkpoint
/// and the third-party graphs in ../shared/models/thirdparty (one with external data). Half the cases mutate the
/// parsed protobuf (tensor dims, data types, raw and external data, nodes, attributes, value infos, metadata, opsets)
/// so that mutations reach the fields modelc reads; half mutate the serialized bytes (bit flips, varint edits,
/// truncation, splices, deletions). Every case runs the load stage of <c>modelc compile</c>
/// (<see cref="CompileStages.Load"/>: spec, model, initializer checks, layer discovery, roles, tokenizer, output checks);
/// every <see cref="OrtEvery"/>th case also creates the ONNX Runtime session <c>modelc eval</c> creates and runs one step.
/// A case must succeed or fail with an MC1xxx code (a model ORT loads but cannot run may be MC3001, a coded runtime
/// failure, exit 3), leave the model file unchanged and leave nothing at the output path; anything else, or a case
/// over 10 s, fails. <c>bench/fuzz.sh N SEED onnx</c> runs more.
/// </summary>
public sealed class OnnxFuzzTests : IDisposable
{
    private const int DefaultCases = 1200;
    private const int OrtEvery = 20;

    private readonly string _dir = TestPaths.NewTempDir("mc-onnx-fuzz");

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private sealed record Seed(string Name, string ModelPath, ModelProto Model, byte[] Bytes);

    private sealed record Case(Seed Seed, byte[] Bytes, string What);

    private Seed[] MakeSeeds()
    {
        var seeds = new List<Seed>();
        var stories = Path.Combine(_dir, "stories260K", "model.onnx");
        Llama2cImporter.Import(TestPaths.Checkpoint, TestPaths.Tokenizer, stories);
        seeds.Add(Load("stories260K", stories));
        var thirdParty = Path.Combine(TestPaths.Shared, "models", "thirdparty");
        foreach (var (folder, model) in new[]
                 {
                     ("ort-tiny-random-gpt2-fp32", "past.onnx"), ("ort-tiny-random-gpt2-fp16", "past.onnx"),
                     ("genai-tiny-random-llama-fp16", "model.onnx"), ("genai-dummy-lfm2", "decoder.onnx"),
                     ("optimum-test-bert-classifier", "model.onnx"),
                 })
        {
            var copy = Path.Combine(_dir, folder);
            Directory.CreateDirectory(copy);
            foreach (var file in Directory.GetFiles(Path.Combine(thirdParty, folder)))
                File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
            foreach (var file in Directory.GetFiles(copy)) File.SetAttributes(file, FileAttributes.Normal);
            seeds.Add(Load(folder, Path.Combine(copy, model)));
        }
        return [.. seeds];

        static Seed Load(string name, string path)
        {
            var bytes = File.ReadAllBytes(path);
            return new Seed(name, path, ModelProto.Parser.ParseFrom(bytes), bytes);
        }
    }

    [Fact]
    public void Mutated_models_load_or_fail_with_an_input_code()
    {
        var seeds = MakeSeeds();
        var spec = Path.Combine(_dir, "q.yaml");
        File.WriteAllText(spec, "calibration:\n  generated: { tokens: 64, seed: 1 }\npolicy:\n  kind: all-int8\n");
        var output = Path.Combine(_dir, "out", "q.onnx");

        var (counts, summary) = FuzzLoop.Run("onnx fuzz", FuzzLoop.Cases(DefaultCases), FuzzLoop.Seed(),
            (rng, _) => Mutate(rng, seeds), (c, i) => RunCase(c, spec, output, i % OrtEvery == 0), Describe);

        Assert.True(counts.Keys.Any(k => k.StartsWith("ok", StringComparison.Ordinal)) && counts.Keys.Any(k => k.StartsWith("MC1", StringComparison.Ordinal)), summary);
        Assert.Contains(counts.Keys, k => k.StartsWith("MC1009", StringComparison.Ordinal)); // mutations reach the initializer checks
    }

    private static (string Key, string? Failure) RunCase(Case c, string spec, string output, bool withOrt)
    {
        File.WriteAllBytes(c.Seed.ModelPath, c.Bytes);
        string key;
        try
        {
            CompileStages.Load(new CompileOptions(c.Seed.ModelPath, spec, output), new CompileFixture.SilentReporter()).Dispose();
            key = "ok";
        }
        catch (ModelCompilerException e) when (FuzzLoop.IsInputError(e))
        {
            key = e.Code;
        }
        catch (Exception e)
        {
            return ("unhandled", $"compile load: {e}");
        }
        if (Directory.Exists(Path.GetDirectoryName(output)))
            return ("left output", "compile load left the output folder behind");
        if (!File.ReadAllBytes(c.Seed.ModelPath).AsSpan().SequenceEqual(c.Bytes))
            return ("changed", "the model file was modified");
        if (!withOrt) return (key, null);

        var stage = "create";
        try
        {
            using var options = ExecutionProviders.Create(ExecutionProviders.Cpu, c.Seed.ModelPath);
            options.IntraOpNumThreads = 1;
            using var session = new DecoderSession(c.Seed.ModelPath, options);
            stage = "run";
            using var step = session.Run([1, 2, 3]);
            return ("ort ok", null);
        }
        catch (ModelCompilerException e) when (FuzzLoop.IsInputError(e))
        {
            return ($"ort {e.Code}", null);
        }
        catch (ModelCompilerException e) when (e.Code == "MC3001" && stage == "run")
        {
            return ("ort run MC3001", null);
        }
        catch (Exception e)
        {
            return ($"ort {stage} unhandled", $"ORT {stage}: {e}");
        }
    }

    private static string Describe(Case c)
    {
        var path = Path.Combine(Path.GetTempPath(), $"modelc-onnx-fuzz-{c.Seed.Name}-{Guid.NewGuid().ToString("N")[..8]}.onnx");
        File.WriteAllBytes(path, c.Bytes);
        return $"seed {c.Seed.Name}, mutations: {c.What}; input saved as {path}";
    }

    private static Case Mutate(Random rng, Seed[] seeds)
    {
        var seed = seeds[rng.Next(seeds.Length)];
        var steps = 1 + rng.Next(3);
        var what = new List<string>();
        byte[] bytes;
        if (rng.Next(2) == 0)
        {
            var model = seed.Model.Clone();
            for (var k = 0; k < steps; k++) what.Add(MutateStructure(rng, model));
            bytes = model.ToByteArray();
        }
        else
        {
            bytes = seed.Bytes;
            for (var k = 0; k < steps; k++) bytes = MutateBytes(rng, bytes, what);
        }
        return new Case(seed, bytes, string.Join("; ", what));
    }

    private static readonly long[] OddDims = [-1, 0, 1, 2, 3, -(1L << 31), 1L << 31, 1L << 32, 1L << 62, long.MaxValue, long.MinValue];
    private static readonly string[] OddValues = ["-1", "0", "1", "99999999999999999999", "abc", "", "../../../etc/passwd", "/etc/passwd", "model.onnx", "missing.bin", "1e3", " 7"];
    private static readonly string[] OpTypes = ["MatMul", "Gemm", "Reshape", "Add", "Gather", "Transpose", "Cast", "NoSuchOp", "", "Constant", "If"];
    private static readonly string[] MetadataKeys =
    [
        Llama2cImporter.MetadataKeys.MaxPositions, Llama2cImporter.MetadataKeys.Tokenizer, Llama2cImporter.MetadataKeys.BosTokenId,
        Llama2cImporter.MetadataKeys.EosTokenId, Llama2cImporter.MetadataKeys.Architecture, "k",
    ];

    private static long OddDim(Random rng, long current) => rng.Next(3) switch
    {
        0 => current + (rng.Next(2) == 0 ? 1 : -1),
        1 => current * 2,
        _ => OddDims[rng.Next(OddDims.Length)],
    };

    private static T Pick<T>(Random rng, IReadOnlyList<T> items) => items[rng.Next(items.Count)];

    /// <summary>One edit of the parsed model; returns what it did.</summary>
    private static string MutateStructure(Random rng, ModelProto m)
    {
        var g = m.Graph;
        var tensors = OnnxModelIO.AllTensors(g).ToList();
        var nodes = g.Node;
        switch (rng.Next(15))
        {
            case 0 or 1 when tensors.Count > 0:
            {
                var t = Pick(rng, tensors);
                if (t.Dims.Count == 0) { t.Dims.Add(OddDim(rng, 1)); return $"dim added to {t.Name}"; }
                var k = rng.Next(t.Dims.Count);
                t.Dims[k] = OddDim(rng, t.Dims[k]);
                return $"{t.Name}.dims[{k}] = {t.Dims[k]}";
            }
            case 2 when tensors.Count > 0:
            {
                var t = Pick(rng, tensors);
                if (t.Dims.Count > 0 && rng.Next(2) == 0) { t.Dims.RemoveAt(rng.Next(t.Dims.Count)); return $"dim removed from {t.Name}"; }
                if (t.Dims.Count >= 2) { (t.Dims[0], t.Dims[1]) = (t.Dims[1], t.Dims[0]); return $"dims of {t.Name} swapped"; }
                t.Dims.Insert(0, 1);
                return $"leading 1 dim on {t.Name}";
            }
            case 3 when tensors.Count > 0:
            {
                var t = Pick(rng, tensors);
                t.DataType = rng.Next(-1, 25);
                return $"{t.Name}.data_type = {t.DataType}";
            }
            case 4 when tensors.Count > 0:
            {
                var t = Pick(rng, tensors);
                var raw = t.RawData;
                t.RawData = rng.Next(2) == 0 && raw.Length > 0
                    ? ByteString.CopyFrom(raw.Span[..rng.Next(raw.Length)])
                    : ByteString.CopyFrom([.. raw.Span, .. new byte[1 + rng.Next(16)]]);
                return $"{t.Name}.raw_data {raw.Length} → {t.RawData.Length} bytes";
            }
            case 5 when tensors.Count > 0:
            {
                var t = Pick(rng, tensors);
                if (t.DataLocation != TensorProto.Types.DataLocation.External)
                {
                    t.DataLocation = TensorProto.Types.DataLocation.External;
                    t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = Pick(rng, OddValues) });
                }
                var key = Pick(rng, new[] { "location", "offset", "length", "checksum" });
                var entry = t.ExternalData.FirstOrDefault(e => e.Key == key);
                if (entry is null) t.ExternalData.Add(entry = new StringStringEntryProto { Key = key });
                entry.Value = rng.Next(3) == 0 ? rng.NextInt64(-10, 1L << 40).ToString(CultureInfo.InvariantCulture) : Pick(rng, OddValues);
                return $"{t.Name}.external_data[{key}] = '{entry.Value}'";
            }
            case 6 when nodes.Count > 0:
            {
                var n = Pick(rng, nodes);
                n.OpType = Pick(rng, OpTypes);
                return $"node {n.Name}.op_type = {n.OpType}";
            }
            case 7 when nodes.Count > 0:
            {
                var n = Pick(rng, nodes);
                if (n.Input.Count > 0 && rng.Next(2) == 0) { n.Input.RemoveAt(rng.Next(n.Input.Count)); return $"input removed from {n.Name}"; }
                var names = g.Initializer.Select(t => t.Name).Concat(nodes.SelectMany(x => x.Output)).Append("").Append("nowhere").ToList();
                if (n.Input.Count == 0) n.Input.Add(Pick(rng, names)); else n.Input[rng.Next(n.Input.Count)] = Pick(rng, names);
                return $"input of {n.Name} rewired";
            }
            case 8 when nodes.Any(n => n.Attribute.Count > 0):
            {
                var n = Pick(rng, nodes.Where(x => x.Attribute.Count > 0).ToList());
                var a = Pick(rng, n.Attribute);
                if (rng.Next(4) == 0) { n.Attribute.Remove(a); return $"attribute {a.Name} removed from {n.Name}"; }
                a.I = OddDim(rng, a.I);
                for (var k = 0; k < a.Ints.Count; k++) if (rng.Next(2) == 0) a.Ints[k] = OddDim(rng, a.Ints[k]);
                a.F = rng.Next(2) == 0 ? float.NaN : -a.F;
                return $"attribute {n.Name}.{a.Name} edited";
            }
            case 9 when nodes.Count > 0:
            {
                var at = rng.Next(nodes.Count);
                if (rng.Next(2) == 0) { nodes.RemoveAt(at); return $"node {at} removed"; }
                nodes.Insert(rng.Next(nodes.Count), nodes[at].Clone());
                return $"node {at} duplicated";
            }
            case 10:
            {
                var infos = g.Input.Concat(g.Output).ToList();
                if (infos.Count == 0) return "no value info";
                var v = Pick(rng, infos);
                if (rng.Next(5) == 0) { v.Name = Pick(rng, new[] { "logits", "input_ids", "x", "" }); return $"value info renamed {v.Name}"; }
                if (v.Type?.TensorType is not { } tt) return $"{v.Name} has no tensor type";
                if (rng.Next(3) == 0) { tt.ElemType = rng.Next(-1, 25); return $"{v.Name}.elem_type = {tt.ElemType}"; }
                if (tt.Shape is not { Dim.Count: > 0 } shape) { tt.Shape = null; return $"{v.Name} shape cleared"; }
                var d = shape.Dim[rng.Next(shape.Dim.Count)];
                if (rng.Next(3) == 0) d.DimParam = Pick(rng, new[] { "batch", "", "sequence_length", "?" });
                else d.DimValue = OddDim(rng, d.DimValue);
                return $"{v.Name} shape edited";
            }
            case 11:
            {
                var key = Pick(rng, MetadataKeys);
                var value = rng.Next(3) == 0 ? rng.NextInt64(-5, 1L << 33).ToString(CultureInfo.InvariantCulture) : Pick(rng, OddValues);
                var existing = m.MetadataProps.FirstOrDefault(p => p.Key == key);
                if (existing is not null && rng.Next(3) > 0) existing.Value = value;
                else m.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
                return $"metadata {key} = '{value}'";
            }
            case 12:
            {
                if (rng.Next(2) == 0) { m.IrVersion = Pick(rng, new long[] { 0, -1, 1, 3, 7, 11, 100 }); return $"ir_version = {m.IrVersion}"; }
                if (m.OpsetImport.Count == 0) { m.OpsetImport.Add(new OperatorSetIdProto { Version = 13 }); return "opset added"; }
                var o = Pick(rng, m.OpsetImport);
                if (rng.Next(4) == 0) { m.OpsetImport.Remove(o); return $"opset {o.Domain} removed"; }
                o.Version = Pick(rng, new long[] { -1, 0, 1, 7, 10, 13, 17, 21, 99 });
                return $"opset '{o.Domain}' = {o.Version}";
            }
            case 13 when g.Initializer.Count > 0:
            {
                var t = Pick(rng, g.Initializer);
                if (rng.Next(2) == 0) { g.Initializer.Remove(t); return $"initializer {t.Name} removed"; }
                g.Initializer.Add(t.Clone());
                return $"initializer {t.Name} duplicated";
            }
            default:
            {
                var t = tensors.Count > 0 ? Pick(rng, tensors) : null;
                if (t is null) return "nothing";
                t.Name = Pick(rng, new[] { "", t.Name + "x", "logits", nodes.Count > 0 ? Pick(rng, nodes).Name : "n" });
                return $"tensor renamed to '{t.Name}'";
            }
        }
    }

    /// <summary>One edit of the serialized bytes; the front of the file (nodes, names, shapes) is hit more often than the weights.</summary>
    private static byte[] MutateBytes(Random rng, byte[] bytes, List<string> what)
    {
        if (bytes.Length == 0) return bytes;
        int At() => rng.Next(2) == 0 ? rng.Next(Math.Min(bytes.Length, 1 << 16)) : rng.Next(bytes.Length);
        var data = bytes.ToArray();
        var at = At();
        switch (rng.Next(6))
        {
            case 0:
                data[at] ^= (byte)(1 << rng.Next(8));
                what.Add($"bit flip at {at}");
                return data;
            case 1:
            {
                // A varint edit: a new varint of 1-10 bytes where one was, lengths and tags included.
                var value = (ulong)rng.NextInt64() >> rng.Next(64);
                var varint = new List<byte>();
                do { varint.Add((byte)((value & 0x7F) | (value > 0x7F ? 0x80u : 0))); value >>= 7; } while (value > 0);
                var old = 1;
                while (at + old - 1 < data.Length && (data[at + old - 1] & 0x80) != 0 && old < 10) old++;
                what.Add($"varint at {at}");
                return [.. data[..at], .. varint, .. data[Math.Min(data.Length, at + old)..]];
            }
            case 2:
                what.Add($"truncated to {at}");
                return data[..at];
            case 3:
            {
                var from = At();
                var len = Math.Min(data.Length - from, 1 + rng.Next(rng.Next(4) == 0 ? 4096 : 64));
                what.Add($"splice {from}+{len} at {at}");
                return [.. data[..at], .. data.AsSpan(from, len), .. data[at..]];
            }
            case 4:
            {
                var len = Math.Min(data.Length - at, 1 + rng.Next(64));
                what.Add($"deleted {at}+{len}");
                return [.. data[..at], .. data[(at + len)..]];
            }
            default:
                for (var k = 0; k < 1 + rng.Next(8) && at + k < data.Length; k++) data[at + k] = (byte)rng.Next(256);
                what.Add($"random bytes at {at}");
                return data;
        }
    }
}

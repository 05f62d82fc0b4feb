using System.Text;

namespace ModelCompiler.Generator.Tests.Infrastructure;

/// <summary>
/// Writes small ONNX models (protobuf by hand, field numbers from onnx.proto) so that generated wrappers can run
/// on the real ONNX Runtime without model files in the repository.
/// </summary>
internal static class TinyOnnx
{
    public const int Float = 1;
    public const int Int64 = 7;
    public const int Float16 = 10;

    /// <summary>A dimension: a fixed size (long) or a symbolic name (string).</summary>
    public sealed record Value(string Name, int ElementType, params object[] Shape);

    public sealed record Node(string OpType, string[] Inputs, string[] Outputs, params Attribute[] Attributes);

    public sealed record Attribute(string Name, long? Int = null, long[]? Ints = null);

    public sealed record Initializer(string Name, int ElementType, long[] Dims, long[]? Int64Data = null, float[]? FloatData = null);

    public static byte[] Model(IEnumerable<Value> inputs, IEnumerable<Value> outputs, IEnumerable<Node> nodes, IEnumerable<Initializer> initializers, int opset = 17)
    {
        var graph = new ProtoWriter();
        int n = 0;
        foreach (var node in nodes)
        {
            var w = new ProtoWriter();
            foreach (var i in node.Inputs)
            {
                w.String(1, i);
            }

            foreach (var o in node.Outputs)
            {
                w.String(2, o);
            }

            w.String(3, node.OpType.ToLowerInvariant() + "_" + n++);
            w.String(4, node.OpType);
            foreach (var a in node.Attributes)
            {
                var aw = new ProtoWriter();
                aw.String(1, a.Name);
                if (a.Int is long value)
                {
                    aw.Varint(3, (ulong)value);
                    aw.Varint(20, 2); // INT
                }
                else
                {
                    foreach (var v in a.Ints!)
                    {
                        aw.Varint(8, (ulong)v);
                    }

                    aw.Varint(20, 7); // INTS
                }

                w.Message(5, aw);
            }

            graph.Message(1, w);
        }

        graph.String(2, "tiny");
        foreach (var init in initializers)
        {
            var t = new ProtoWriter();
            foreach (var d in init.Dims)
            {
                t.Varint(1, (ulong)d);
            }

            t.Varint(2, (ulong)init.ElementType);
            if (init.FloatData is not null)
            {
                var packed = new ProtoWriter();
                foreach (var f in init.FloatData)
                {
                    packed.Fixed32(BitConverter.SingleToInt32Bits(f));
                }

                t.Bytes(4, packed.ToArray());
            }

            if (init.Int64Data is not null)
            {
                var packed = new ProtoWriter();
                foreach (var v in init.Int64Data)
                {
                    packed.RawVarint((ulong)v);
                }

                t.Bytes(7, packed.ToArray());
            }

            t.String(8, init.Name);
            graph.Message(5, t);
        }

        foreach (var v in inputs)
        {
            graph.Message(11, ValueInfo(v));
        }

        foreach (var v in outputs)
        {
            graph.Message(12, ValueInfo(v));
        }

        var model = new ProtoWriter();
        model.Varint(1, 8); // ir_version
        model.String(2, "ModelCompiler.Generator.Tests");
        model.Message(7, graph);
        var opsetId = new ProtoWriter();
        opsetId.String(1, string.Empty);
        opsetId.Varint(2, (ulong)opset);
        model.Message(8, opsetId);
        return model.ToArray();
    }

    private static ProtoWriter ValueInfo(Value value)
    {
        var shape = new ProtoWriter();
        foreach (var d in value.Shape)
        {
            var dim = new ProtoWriter();
            if (d is string symbol)
            {
                dim.String(2, symbol);
            }
            else
            {
                dim.Varint(1, (ulong)Convert.ToInt64(d, System.Globalization.CultureInfo.InvariantCulture));
            }

            shape.Message(1, dim);
        }

        var tensor = new ProtoWriter();
        tensor.Varint(1, (ulong)value.ElementType);
        tensor.Message(2, shape);
        var type = new ProtoWriter();
        type.Message(1, tensor);
        var info = new ProtoWriter();
        info.String(1, value.Name);
        info.Message(2, type);
        return info;
    }

    private sealed class ProtoWriter
    {
        private readonly MemoryStream _stream = new();

        public void Varint(int field, ulong value)
        {
            Tag(field, 0);
            RawVarint(value);
        }

        public void String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

        public void Message(int field, ProtoWriter message) => Bytes(field, message.ToArray());

        public void Bytes(int field, byte[] bytes)
        {
            Tag(field, 2);
            RawVarint((ulong)bytes.Length);
            _stream.Write(bytes);
        }

        public void Fixed32(int value) => _stream.Write(BitConverter.GetBytes(value));

        public void RawVarint(ulong value)
        {
            while (value >= 0x80)
            {
                _stream.WriteByte((byte)(value | 0x80));
                value >>= 7;
            }

            _stream.WriteByte((byte)value);
        }

        public byte[] ToArray() => _stream.ToArray();

        private void Tag(int field, int wireType) => RawVarint((ulong)((field << 3) | wireType));
    }

    /// <summary>
    /// A stand-in for stories260K with its exact signature (5 layers, 4 kv heads, head_dim 8, vocab 512) whose next
    /// token is predictable: at every position, logits are one-hot at
    /// <c>position_id + sum(attention_mask) + present_length + 100</c>, and <c>present.*</c> is <c>past</c> with
    /// one [1, 4, n, 8] block appended. Wrong position ids, masks or cache feeding change the generated tokens.
    /// </summary>
    public static byte[] FakeStoriesDecoder()
    {
        var inputs = new List<Value>
        {
            new("input_ids", Int64, "batch", "sequence_length"),
            new("attention_mask", Int64, "batch", "total_sequence_length"),
            new("position_ids", Int64, "batch", "sequence_length"),
        };
        var outputs = new List<Value> { new("logits", Float, "batch", "sequence_length", 512L) };
        var nodes = new List<Node>
        {
            new("Cast", ["position_ids"], ["pos_f"], new Attribute("to", Int: Float)),
            new("Unsqueeze", ["pos_f", "axes_1_3"], ["pos_u"]),
            new("Expand", ["pos_u", "kv_block_shape"], ["new_kv"]),
        };
        for (int layer = 0; layer < 5; layer++)
        {
            foreach (var kind in new[] { "key", "value" })
            {
                inputs.Add(new($"past_key_values.{layer}.{kind}", Float, "batch", 4L, "past_sequence_length", 8L));
                outputs.Add(new($"present.{layer}.{kind}", Float, "batch", 4L, "total_sequence_length", 8L));
                nodes.Add(new("Concat", [$"past_key_values.{layer}.{kind}", "new_kv"], [$"present.{layer}.{kind}"], new Attribute("axis", Int: 2)));
            }
        }

        nodes.AddRange(
        [
            new("ReduceSum", ["attention_mask", "axes_1"], ["mask_sum"], new Attribute("keepdims", Int: 1)),
            new("Shape", ["present.0.key"], ["kv_length"], new Attribute("start", Int: 2), new Attribute("end", Int: 3)),
            new("Add", ["position_ids", "mask_sum"], ["t1"]),
            new("Add", ["t1", "kv_length"], ["t2"]),
            new("Add", ["t2", "offset"], ["index"]),
            new("OneHot", ["index", "depth", "one_hot_values"], ["logits"], new Attribute("axis", Int: -1)),
        ]);
        var initializers = new List<Initializer>
        {
            new("axes_1_3", Int64, [2], Int64Data: [1, 3]),
            new("kv_block_shape", Int64, [4], Int64Data: [1, 4, 1, 8]),
            new("axes_1", Int64, [1], Int64Data: [1]),
            new("offset", Int64, [1], Int64Data: [100]),
            new("depth", Int64, [1], Int64Data: [512]),
            new("one_hot_values", Float, [2], FloatData: [0f, 1f]),
        };
        return Model(inputs, outputs, nodes, initializers);
    }

    /// <summary>A stand-in for the classifier fixture: class_scores = float16(mean of each channel), shape [batch, 3].</summary>
    public static byte[] FakeClassifier() => Model(
        [new Value("pixel_values", Float, "batch", 3L, 224L, 224L)],
        [new Value("class_scores", Float16, "batch", 3L)],
        [
            new Node("ReduceMean", ["pixel_values"], ["mean"], new Attribute("axes", Ints: [2, 3]), new Attribute("keepdims", Int: 0)),
            new Node("Cast", ["mean"], ["class_scores"], new Attribute("to", Int: Float16)),
        ],
        []);
}

using System.Globalization;
using System.Runtime.InteropServices;
using Google.Protobuf;
using ModelCompiler.Onnx;
using ModelCompiler.Onnx.Proto;
using ModelCompiler.Tokenization;
using DataType = ModelCompiler.Onnx.Proto.TensorProto.Types.DataType;

namespace ModelCompiler.Import;

/// <summary>
/// Builds an ONNX decoder graph from a llama2.c checkpoint, shaped like Hugging Face Optimum's
/// decoder-with-past exports: inputs input_ids / attention_mask / position_ids / past_key_values.{i}.key|value,
/// outputs logits / present.{i}.key|value, projections as MatMul with constant weights named after the module.
/// Standard ONNX opset 17 only; <c>opset: 11</c> writes the same graph for opset 11 (Unsqueeze axes as an attribute,
/// LessOrEqual as Not(Greater)), as older exporters do, to measure INT8 on such graphs.
/// </summary>
public static class Llama2cImporter
{
    public const int Opset = 17;
    /// <summary>The opsets the importer can write: 17 (default) or 11 (for tests and measurements of old exports).</summary>
    public static readonly IReadOnlyList<int> Opsets = [11, Opset];
    public const string TokenizerSuffix = ".tokenizer.bin";

    /// <summary>Metadata keys written into the model so later stages know what it is.</summary>
    public static class MetadataKeys
    {
        public const string Architecture = "modelcompiler.architecture";
        public const string Tokenizer = "modelcompiler.tokenizer";
        public const string BosTokenId = "modelcompiler.bos_token_id";
        public const string EosTokenId = "modelcompiler.eos_token_id";
        public const string Source = "modelcompiler.source";
        /// <summary>Positions the rotary tables cover; later positions cannot be computed.</summary>
        public const string MaxPositions = "modelcompiler.max_position_embeddings";
    }

    /// <summary>Where the tokenizer of <paramref name="modelPath"/> is stored: "model.onnx" → "model.tokenizer.bin".</summary>
    public static string TokenizerPathFor(string modelPath) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(modelPath))!, Path.GetFileNameWithoutExtension(modelPath) + TokenizerSuffix);

    /// <summary>
    /// Imports the checkpoint and writes the model and, when given, its tokenizer beside it, committed as one set
    /// (<see cref="ImportOutputs"/>). The tokenizer is parsed first (a truncated or corrupt one is MC1021, one of another
    /// vocabulary size MC1022) and the bytes that were checked are the bytes copied. Weights are streamed: each is read
    /// from the checkpoint when the model is saved, so memory holds about one tensor; the returned model's weights
    /// are read from the checkpoint again whenever asked for.
    /// </summary>
    public static ModelProto Import(string checkpointPath, string? tokenizerPath, string outputPath, SaveOptions? saveOptions = null, int opset = Opset)
    {
        if (!Opsets.Contains(opset))
            throw new ModelCompilerException("MC1018", $"the importer writes opset {string.Join(" or ", Opsets)}, not {opset}.", Path.GetFullPath(checkpointPath));
        if (tokenizerPath is not null && !File.Exists(tokenizerPath))
            throw new ModelCompilerException("MC1001", "tokenizer file not found; check the path.", Path.GetFullPath(tokenizerPath));
        var checkpoint = Llama2cCheckpoint.Open(checkpointPath);
        var tokenizer = tokenizerPath is null ? null : ReadTokenizer(tokenizerPath, checkpoint.Config.VocabSize);
        var model = Build(checkpoint, tokenizerPath is null ? null : Path.GetFileName(TokenizerPathFor(outputPath)), lazy: true, opset: opset);
        model.MetadataProps.Add(new StringStringEntryProto { Key = MetadataKeys.Source, Value = "llama2.c:" + Path.GetFileName(checkpointPath) });
        ImportOutputs.Write(model, tokenizer, outputPath, saveOptions);
        return model;
    }

    /// <summary>The bytes of a llama2.c tokenizer file after checking they parse with <paramref name="vocabSize"/> entries.</summary>
    public static byte[] ReadTokenizer(string tokenizerPath, int vocabSize)
    {
        var full = Path.GetFullPath(tokenizerPath);
        byte[] bytes;
        try { bytes = File.ReadAllBytes(full); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelCompilerException(TokenizationErrors.TokenizerNotFound, $"cannot read the tokenizer file: {e.Message}", full, inner: e);
        }
        Llama2cTokenizer.Parse(bytes, full, vocabSize);
        return bytes;
    }

    /// <summary>The graph of an in-memory checkpoint, every weight held in the model.</summary>
    public static ModelProto Build(Llama2cCheckpoint ckpt, string? tokenizerFileName, int opset = Opset) =>
        Build(ckpt, tokenizerFileName, lazy: false, opset);

    /// <param name="lazy">When true, no weight is held: each initializer's bytes are asked of <paramref name="weights"/>
    /// whenever they are read (<see cref="ComputedTensorBytes"/>), e.g. one tensor at a time while the model is saved.</param>
    public static ModelProto Build(ILlamaWeights weights, string? tokenizerFileName, bool lazy, int opset = Opset)
    {
        var c = weights.Config;
        var b = new Builder(weights, lazy, opset);
        var model = new ModelProto
        {
            IrVersion = 8,
            ProducerName = "modelc",
            ProducerVersion = typeof(Llama2cImporter).Assembly.GetName().Version?.ToString(3) ?? "0.0.0",
            Graph = b.Graph.Proto,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        void Meta(string k, string v) => model.MetadataProps.Add(new StringStringEntryProto { Key = k, Value = v });
        Meta(MetadataKeys.Architecture, "llama");
        Meta(MetadataKeys.BosTokenId, "1");
        Meta(MetadataKeys.EosTokenId, "2");
        Meta(MetadataKeys.MaxPositions, c.MaxSeqLen.ToString(CultureInfo.InvariantCulture));
        if (tokenizerFileName is not null) Meta(MetadataKeys.Tokenizer, tokenizerFileName);

        b.BuildGraph();
        if (opset < 13) b.Graph.RemoveUnusedInitializers(); // the Unsqueeze axes constants
        return model;
    }

    /// <summary>fp32 values as little-endian bytes (a tensor's raw data).</summary>
    internal static byte[] AsBytes(ReadOnlySpan<float> values) => MemoryMarshal.AsBytes(values).ToArray();

    /// <summary>A [rows][cols] matrix's transpose, [cols][rows], as a tensor's bytes: llama2.c's [out][in] to MatMul's [in][out].</summary>
    internal static byte[] TransposedBytes(ReadOnlySpan<float> rowsCols, int rows, int cols)
    {
        var bytes = new byte[(long)rows * cols * sizeof(float)];
        var t = MemoryMarshal.Cast<byte, float>(bytes.AsSpan());
        for (var r = 0; r < rows; r++)
            for (var k = 0; k < cols; k++)
                t[k * rows + r] = rowsCols[r * cols + k];
        return bytes;
    }

    private sealed class Builder(ILlamaWeights weights, bool lazy, int opset)
    {
        private readonly Llama2cConfig c = weights.Config;

        public OnnxGraph Graph { get; } = new(new GraphProto { Name = "llama2c" });

        private readonly Dictionary<string, string> _constants = new(StringComparer.Ordinal);

        public void BuildGraph()
        {
            var g = Graph.Proto;
            g.Input.Add(TensorInfo("input_ids", DataType.Int64, "batch", "sequence_length"));
            g.Input.Add(TensorInfo("attention_mask", DataType.Int64, "batch", "total_sequence_length"));
            g.Input.Add(TensorInfo("position_ids", DataType.Int64, "batch", "sequence_length"));
            for (var i = 0; i < c.Layers; i++)
            {
                g.Input.Add(TensorInfo($"past_key_values.{i}.key", DataType.Float, "batch", c.KvHeads, "past_sequence_length", c.HeadDim));
                g.Input.Add(TensorInfo($"past_key_values.{i}.value", DataType.Float, "batch", c.KvHeads, "past_sequence_length", c.HeadDim));
            }
            g.Output.Add(TensorInfo("logits", DataType.Float, "batch", "sequence_length", c.VocabSize));
            for (var i = 0; i < c.Layers; i++)
            {
                g.Output.Add(TensorInfo($"present.{i}.key", DataType.Float, "batch", c.KvHeads, "total_sequence_length", c.HeadDim));
                g.Output.Add(TensorInfo($"present.{i}.value", DataType.Float, "batch", c.KvHeads, "total_sequence_length", c.HeadDim));
            }

            Weight("model.embed_tokens.weight", LlamaTensor.Embedding, 0, c.VocabSize, c.Dim);
            var half = c.HeadDim / 2;
            Weight("model.rotary_emb.cos_cached", LlamaTensor.RopeCos, 0, c.MaxSeqLen, half);
            Weight("model.rotary_emb.sin_cached", LlamaTensor.RopeSin, 0, c.MaxSeqLen, half);

            var hidden = Node("Gather", "/model/embed_tokens/Gather", ["model.embed_tokens.weight", "input_ids"]);

            // Rotary tables for these positions: [batch, 1, seq, head_dim/2, 1], broadcast over heads and the pair axis.
            var cos = Node("Unsqueeze", "/model/rotary_emb/cos/Unsqueeze",
                [Node("Gather", "/model/rotary_emb/cos/Gather", ["model.rotary_emb.cos_cached", "position_ids"]), Const64("axes_1_4", 1, 4)]);
            var sin = Node("Unsqueeze", "/model/rotary_emb/sin/Unsqueeze",
                [Node("Gather", "/model/rotary_emb/sin/Gather", ["model.rotary_emb.sin_cached", "position_ids"]), Const64("axes_1_4", 1, 4)]);

            var mask = BuildAttentionMask();

            for (var i = 0; i < c.Layers; i++)
            {
                var p = $"/model/layers.{i}";
                var m = $"model.layers.{i}";
                var x = RmsNorm(hidden, $"{p}/input_layernorm", $"{m}.input_layernorm.weight", LlamaTensor.RmsAtt, i);
                var q = Projection(x, $"{p}/self_attn/q_proj", $"{m}.self_attn.q_proj.weight", LlamaTensor.Wq, i, c.Dim, c.Dim);
                var k = Projection(x, $"{p}/self_attn/k_proj", $"{m}.self_attn.k_proj.weight", LlamaTensor.Wk, i, c.Dim, c.KvDim);
                var v = Projection(x, $"{p}/self_attn/v_proj", $"{m}.self_attn.v_proj.weight", LlamaTensor.Wv, i, c.Dim, c.KvDim);

                q = Rotary(SplitHeads(q, c.Heads, $"{p}/self_attn/q"), cos, sin, $"{p}/self_attn/q_rotary");
                k = Rotary(SplitHeads(k, c.KvHeads, $"{p}/self_attn/k"), cos, sin, $"{p}/self_attn/k_rotary");
                v = SplitHeads(v, c.KvHeads, $"{p}/self_attn/v");

                var presentK = Node("Concat", $"{p}/self_attn/present_key/Concat", [$"past_key_values.{i}.key", k], $"present.{i}.key", Attr.Int("axis", 2));
                var presentV = Node("Concat", $"{p}/self_attn/present_value/Concat", [$"past_key_values.{i}.value", v], $"present.{i}.value", Attr.Int("axis", 2));
                var kAll = RepeatKv(presentK, $"{p}/self_attn/repeat_k");
                var vAll = RepeatKv(presentV, $"{p}/self_attn/repeat_v");

                var kT = Node("Transpose", $"{p}/self_attn/k/Transpose_scores", [kAll], attrs: Attr.Ints("perm", 0, 1, 3, 2));
                var scores = Node("MatMul", $"{p}/self_attn/scores/MatMul", [q, kT]);
                scores = Node("Mul", $"{p}/self_attn/scores/Mul", [scores, ConstF("attn_scale", 1f / MathF.Sqrt(c.HeadDim))]);
                scores = Node("Where", $"{p}/self_attn/scores/Where", [mask, scores, ConstF("mask_min", float.MinValue)]);
                var probs = Node("Softmax", $"{p}/self_attn/Softmax", [scores], attrs: Attr.Int("axis", -1));
                var ctx = Node("MatMul", $"{p}/self_attn/context/MatMul", [probs, vAll]);
                ctx = Node("Transpose", $"{p}/self_attn/context/Transpose", [ctx], attrs: Attr.Ints("perm", 0, 2, 1, 3));
                ctx = Node("Reshape", $"{p}/self_attn/context/Reshape", [ctx, Const64("shape_merge_heads", 0, 0, c.Dim)]);
                var attnOut = Projection(ctx, $"{p}/self_attn/o_proj", $"{m}.self_attn.o_proj.weight", LlamaTensor.Wo, i, c.Dim, c.Dim);
                hidden = Node("Add", $"{p}/self_attn/residual/Add", [hidden, attnOut]);

                x = RmsNorm(hidden, $"{p}/post_attention_layernorm", $"{m}.post_attention_layernorm.weight", LlamaTensor.RmsFfn, i);
                var gate = Projection(x, $"{p}/mlp/gate_proj", $"{m}.mlp.gate_proj.weight", LlamaTensor.W1, i, c.Dim, c.HiddenDim);
                var up = Projection(x, $"{p}/mlp/up_proj", $"{m}.mlp.up_proj.weight", LlamaTensor.W3, i, c.Dim, c.HiddenDim);
                var silu = Node("Mul", $"{p}/mlp/act_fn/Mul", [gate, Node("Sigmoid", $"{p}/mlp/act_fn/Sigmoid", [gate])]);
                var prod = Node("Mul", $"{p}/mlp/Mul", [silu, up]);
                var down = Projection(prod, $"{p}/mlp/down_proj", $"{m}.mlp.down_proj.weight", LlamaTensor.W2, i, c.HiddenDim, c.Dim);
                hidden = Node("Add", $"{p}/mlp/residual/Add", [hidden, down]);
            }

            var final = RmsNorm(hidden, "/model/norm", "model.norm.weight", LlamaTensor.RmsFinal, 0);
            string lmHeadWeight;
            if (c.SharedClassifier)
            {
                // Tied weights, as Hugging Face exports them: lm_head reads the embedding through a Transpose.
                lmHeadWeight = Node("Transpose", "/lm_head/weight/Transpose", ["model.embed_tokens.weight"], attrs: Attr.Ints("perm", 1, 0));
            }
            else
            {
                lmHeadWeight = "lm_head.weight";
                Weight(lmHeadWeight, LlamaTensor.Classifier, 0, c.Dim, c.VocabSize);
            }
            Node("MatMul", "/lm_head/MatMul", [final, lmHeadWeight], "logits");
        }

        /// <summary>An fp32 initializer whose bytes come from the weight source, now or (lazy) whenever read.</summary>
        private void Weight(string name, LlamaTensor kind, int layer, params long[] dims)
        {
            var length = checked((int)(dims.Aggregate(1L, (n, d) => n * d) * sizeof(float)));
            var t = new TensorProto { Name = name, DataType = (int)DataType.Float };
            t.Dims.Add(dims);
            if (lazy)
            {
                t.RawData = new ComputedTensorBytes(length, () => weights.Bytes(kind, layer)).AsByteString();
            }
            else
            {
                var bytes = weights.Bytes(kind, layer);
                if (bytes.Length != length)
                    throw new InvalidOperationException($"weight source gave {bytes.Length} bytes for {name}, expected {length}");
                t.RawData = UnsafeByteOperations.UnsafeWrap(bytes);
            }
            Graph.AddInitializer(t);
        }

        /// <summary>
        /// Boolean [batch, 1, seq, total]: key j is visible to query i when j ≤ past + i (causal) and the
        /// attention mask keeps j.
        /// </summary>
        private string BuildAttentionMask()
        {
            const string p = "/model/attn_mask";
            var total = Node("Gather", $"{p}/total/Gather", [Node("Shape", $"{p}/total/Shape", ["attention_mask"]), Const64Scalar("one", 1)], attrs: Attr.Int("axis", 0));
            var seq = Node("Gather", $"{p}/seq/Gather", [Node("Shape", $"{p}/seq/Shape", ["input_ids"]), Const64Scalar("one", 1)], attrs: Attr.Int("axis", 0));
            var past = Node("Sub", $"{p}/past/Sub", [total, seq]);
            var keyPos = Node("Range", $"{p}/key_positions/Range", [Const64Scalar("zero", 0), total, Const64Scalar("one", 1)]);
            var queryPos = Node("Range", $"{p}/query_positions/Range", [past, total, Const64Scalar("one", 1)]);
            var queryCol = Node("Unsqueeze", $"{p}/query_positions/Unsqueeze", [queryPos, Const64("axes_1", 1)]);
            var causal = Node("LessOrEqual", $"{p}/causal/LessOrEqual", [keyPos, queryCol]);      // [seq, total]
            var keep = Node("Cast", $"{p}/keep/Cast", ["attention_mask"], attrs: Attr.Int("to", (long)DataType.Bool));
            keep = Node("Unsqueeze", $"{p}/keep/Unsqueeze", [keep, Const64("axes_1_2", 1, 2)]);      // [batch, 1, 1, total]
            return Node("And", $"{p}/And", [causal, keep]);                                             // [batch, 1, seq, total]
        }

        private string RmsNorm(string x, string prefix, string weightName, LlamaTensor kind, int layer)
        {
            Weight(weightName, kind, layer, c.Dim);
            var sq = Node("Mul", $"{prefix}/Pow", [x, x]);
            var mean = Node("ReduceMean", $"{prefix}/ReduceMean", [sq], attrs: [Attr.Ints("axes", -1), Attr.Int("keepdims", 1)]);
            var rstd = Node("Reciprocal", $"{prefix}/Reciprocal", [Node("Sqrt", $"{prefix}/Sqrt", [Node("Add", $"{prefix}/Add", [mean, ConstF("rms_eps", 1e-5f)])])]);
            return Node("Mul", $"{prefix}/Mul_1", [Node("Mul", $"{prefix}/Mul", [x, rstd]), weightName]);
        }

        private string Projection(string x, string prefix, string weightName, LlamaTensor kind, int layer, int inDim, int outDim)
        {
            Weight(weightName, kind, layer, inDim, outDim);
            return Node("MatMul", $"{prefix}/MatMul", [x, weightName]);
        }

        /// <summary>[batch, seq, heads*head_dim] → [batch, heads, seq, head_dim].</summary>
        private string SplitHeads(string x, int heads, string prefix)
        {
            var r = Node("Reshape", $"{prefix}/Reshape", [x, Const64($"shape_heads_{heads}", 0, 0, heads, c.HeadDim)]);
            return Node("Transpose", $"{prefix}/Transpose", [r], attrs: Attr.Ints("perm", 0, 2, 1, 3));
        }

        /// <summary>Rotates consecutive pairs (2i, 2i+1) inside each head, as llama2.c does.</summary>
        private string Rotary(string x, string cos, string sin, string prefix)
        {
            var pairs = Node("Reshape", $"{prefix}/Reshape", [x, Const64("shape_pairs", 0, 0, 0, -1, 2)]);
            var even = Node("Slice", $"{prefix}/even/Slice", [pairs, Const64("slice_0", 0), Const64("slice_1", 1), Const64("axes_last", -1)]);
            var odd = Node("Slice", $"{prefix}/odd/Slice", [pairs, Const64("slice_1", 1), Const64("slice_2", 2), Const64("axes_last", -1)]);
            var re = Node("Sub", $"{prefix}/re/Sub", [Node("Mul", $"{prefix}/re/Mul", [even, cos]), Node("Mul", $"{prefix}/re/Mul_1", [odd, sin])]);
            var im = Node("Add", $"{prefix}/im/Add", [Node("Mul", $"{prefix}/im/Mul", [even, sin]), Node("Mul", $"{prefix}/im/Mul_1", [odd, cos])]);
            var joined = Node("Concat", $"{prefix}/Concat", [re, im], attrs: Attr.Int("axis", -1));
            return Node("Reshape", $"{prefix}/Reshape_1", [joined, Const64("shape_unpairs", 0, 0, 0, -1)]);
        }

        /// <summary>Grouped-query attention: query head h reads key/value head h / (heads / kv_heads).</summary>
        private string RepeatKv(string x, string prefix)
        {
            var rep = c.Heads / c.KvHeads;
            if (rep == 1) return x;
            var u = Node("Unsqueeze", $"{prefix}/Unsqueeze", [x, Const64("axes_2", 2)]);
            var e = Node("Expand", $"{prefix}/Expand", [u, Const64($"expand_kv_{rep}", 1, 1, rep, 1, 1)]);
            return Node("Reshape", $"{prefix}/Reshape", [e, Const64("shape_all_heads", 0, c.Heads, -1, c.HeadDim)]);
        }

        private string Node(string op, string name, string[] inputs, string? output = null, params AttributeProto[] attrs)
        {
            output ??= name + "_output_0";
            if (opset < 13 && op == "Unsqueeze") // axes became an input in opset 13
                (inputs, attrs) = ([inputs[0]], [Attr.Ints("axes", TensorData.ReadInt64s(Graph.Initializer(inputs[1])!))]);
            if (opset < 12 && op == "LessOrEqual") // added in opset 12
                return Node("Not", name + "/Not", [Node("Greater", name + "/Greater", inputs)], output);
            Graph.AddNode(op, inputs, [output], name, attrs);
            return output;
        }

        private string Const64(string key, params long[] values)
        {
            var name = "const." + key;
            if (_constants.TryAdd(name, name)) Graph.AddInitializer(TensorData.Int64s(name, values, values.Length));
            return name;
        }

        private string Const64Scalar(string key, long value)
        {
            var name = "const.scalar_" + key;
            if (_constants.TryAdd(name, name)) Graph.AddInitializer(TensorData.Int64s(name, [value]));
            return name;
        }

        private string ConstF(string key, float value)
        {
            var name = "const." + key;
            if (_constants.TryAdd(name, name)) Graph.AddInitializer(TensorData.Floats(name, [value]));
            return name;
        }

        private static ValueInfoProto TensorInfo(string name, DataType type, params object[] dims)
        {
            var shape = new TensorShapeProto();
            foreach (var d in dims)
            {
                shape.Dim.Add(d switch
                {
                    int n => new TensorShapeProto.Types.Dimension { DimValue = n },
                    string s => new TensorShapeProto.Types.Dimension { DimParam = s },
                    _ => throw new ArgumentException(d.ToString()),
                });
            }
            return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } } };
        }
    }
}

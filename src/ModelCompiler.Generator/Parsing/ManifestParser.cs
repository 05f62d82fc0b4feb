using System.Collections.Generic;
using System.Globalization;
using System.Threading;
using Microsoft.CodeAnalysis;
using ModelCompiler.Generator.Json;
using ModelCompiler.Generator.Model;

namespace ModelCompiler.Generator.Parsing
{
    /// <summary>
    /// Reads one manifest (see docs/manifest.md) and the item's metadata into a <see cref="WrapperModel"/>.
    /// Never throws for bad input: every problem becomes an MC4xxx diagnostic pointing into the manifest.
    /// </summary>
    internal sealed class ManifestParser
    {
        public const string FormatName = "modelcompiler-manifest";
        public const int SupportedFormatVersion = 1;

        /// <summary>Names the generated class declares itself; a class of the same name would not compile (CS0542).</summary>
        internal static readonly string[] ReservedClassNames =
        {
            "Inputs", "Outputs", "ModelPath", "Session", "UsesCuda", "Run", "CreateWithCuda", "Dispose",
            "GenerateGreedy", "GenerateAsync", "Generator", "NumLayers", "NumKvHeads", "HeadDim", "VocabSize", "BosTokenId", "EosTokenId", "MaxPositions",
            "CheckShape", "MissingInput", "ThrowIfDisposed", "GreedyStep", "DecoderContract", "EosTokenIds", "Invariant",
            "CompileMetrics",
        };

        private static readonly string[] ObjectMembers =
        {
            "Equals", "GetHashCode", "GetType", "ToString", "MemberwiseClone", "ReferenceEquals", "Finalize",
        };

        private readonly string _path;
        private readonly string _fileName;
        private readonly List<DiagnosticInfo> _diagnostics = new List<DiagnosticInfo>();
        private bool _hasErrors;

        private ManifestParser(string path)
        {
            _path = path;
            _fileName = FileName(path);
        }

        public static ManifestResult Parse(string path, string? text, ManifestOptions options, CancellationToken cancellationToken)
        {
            var parser = new ManifestParser(path);
            var model = parser.ParseCore(text, options, cancellationToken);
            return new ManifestResult(path, parser._hasErrors ? null : model, parser._diagnostics.ToEquatableArray());
        }

        private WrapperModel? ParseCore(string? text, ManifestOptions options, CancellationToken cancellationToken)
        {
            if (text is null)
            {
                Report(DiagnosticInfo.AtFile(DiagnosticDescriptors.ManifestUnreadable, _path, _fileName, "The file could not be opened."));
                return null;
            }

            JsonNode root;
            try
            {
                root = JsonReader.Parse(text);
            }
            catch (JsonReaderException ex)
            {
                var p = ex.Position;
                string where = string.Format(CultureInfo.InvariantCulture, "line {0}, column {1}", p.Line + 1, p.Column + 1);
                Report(DiagnosticInfo.Create(DiagnosticDescriptors.ManifestUnreadable, _path, p.Offset, 0, p.Line, p.Column, _fileName, $"Invalid JSON at {where}: {ex.Message}"));
                return null;
            }

            cancellationToken.ThrowIfCancellationRequested();
            if (root is not JsonObject manifest)
            {
                Invalid(root, $"the top-level value must be an object, not {root.KindName}");
                return null;
            }

            // The format checks come first: a manifest of another format or version cannot be read further.
            var format = RequireString(manifest, "format", "format");
            if (format is null)
            {
                return null;
            }

            if (format.Value != FormatName)
            {
                Invalid(format, $"'format' is '{format.Value}', expected '{FormatName}'; this file is not a ModelCompiler manifest");
                return null;
            }

            var version = Require(manifest, "format_version", "format_version");
            if (version is null)
            {
                return null;
            }

            if (version is not JsonNumber number || !number.TryGetInt64(out long formatVersion))
            {
                Invalid(version, $"'format_version' must be an integer, not {Describe(version)}");
                return null;
            }

            if (formatVersion != SupportedFormatVersion)
            {
                Invalid(version, string.Format(
                    CultureInfo.InvariantCulture,
                    "format_version {0} is not supported by this generator, which reads format_version {1}; use the same version of the ModelCompiler package for modelc and the generator",
                    formatVersion,
                    SupportedFormatVersion));
                return null;
            }

            string? modelFile = null;
            string? tokenizerFile = null;
            var model = RequireObject(manifest, "model", "model");
            if (model != null)
            {
                // The tokenizer file modelc copied beside the model (optional): text in and out when it is there.
                var tokenizer = model["tokenizer"];
                if (tokenizer is JsonString t && t.Value.Trim().Length > 0 && t.Value.IndexOfAny(new[] { '/', '\\' }) < 0)
                {
                    tokenizerFile = t.Value;
                }
                else if (tokenizer != null && tokenizer.Kind != JsonKind.Null)
                {
                    Invalid(tokenizer, $"'model.tokenizer' must be a file name beside the model or null, not {Describe(tokenizer)}");
                }

                var file = RequireString(model, "file", "model.file");
                if (file != null)
                {
                    if (file.Value.Trim().Length == 0)
                    {
                        Invalid(file, "'model.file' must not be empty");
                    }
                    else
                    {
                        modelFile = file.Value;
                    }
                }
            }

            EquatableArray<TensorModel> inputs = default;
            EquatableArray<TensorModel> outputs = default;
            var signature = RequireObject(manifest, "signature", "signature");
            if (signature != null)
            {
                inputs = ReadTensors(signature, "inputs", "input");
                outputs = ReadTensors(signature, "outputs", "output");
            }

            cancellationToken.ThrowIfCancellationRequested();
            if (_hasErrors || modelFile is null)
            {
                return null;
            }

            var names = ResolveNames(modelFile, options);
            if (names is null)
            {
                return null;
            }

            var (ns, className, isPublic) = names.Value;
            string modelPath = (options.ModelPath ?? modelFile).Replace('\\', '/');
            string hintName = (ns.Length == 0 ? string.Empty : Unescape(ns) + ".") + Identifiers.Unescape(className) + ".g.cs";

            var decoder = ReadDecoder(manifest, inputs, outputs);
            return new WrapperModel(
                ManifestFileName: _fileName,
                ModelFile: modelFile,
                Namespace: ns,
                ClassName: className,
                HintName: hintName,
                IsPublic: isPublic,
                ModelPath: modelPath,
                Inputs: NameInputs(inputs, className),
                Outputs: NameOutputs(outputs, className),
                Decoder: decoder,
                Metrics: ReadMetrics(manifest),
                TokenizerFile: tokenizerFile);
        }

        /// <summary>The manifest's quality figures, for apps that log or check them. Optional: absent or odd values are skipped.</summary>
        private static EquatableArray<MetricConstant> ReadMetrics(JsonObject manifest)
        {
            var list = new List<MetricConstant>();
            if (manifest["metrics"] is not JsonObject metrics)
            {
                return list.ToEquatableArray();
            }

            void Number(string key, string name, string type, string summary)
            {
                if (metrics[key] is not JsonNumber n)
                {
                    return;
                }

                bool integral = n.TryGetInt64(out _);
                if (type == "int" && !integral)
                {
                    return;
                }

                list.Add(new MetricConstant(name, type, type == "double" ? n.Text + "d" : n.Text, summary));
            }

            if (metrics["provider"] is JsonString provider)
            {
                list.Add(new MetricConstant("MeasuredOn", "string", Microsoft.CodeAnalysis.CSharp.SymbolDisplay.FormatLiteral(provider.Value, quote: true),
                    "The execution provider the figures below were measured on."));
            }

            Number("fp32_perplexity", "Fp32Perplexity", "double", "Perplexity of the original fp32 model on the evaluation data.");
            Number("quantized_perplexity", "QuantizedPerplexity", "double", "Perplexity of this quantized model on the same data.");
            Number("perplexity_increase_pct", "PerplexityIncreasePct", "double", "Perplexity increase of the quantized model, in percent.");
            Number("top1_agreement", "Top1Agreement", "double", "Fraction of positions where both models predict the same next token.");
            Number("int8_fraction", "Int8Fraction", "double", "Fraction of the quantizable weights stored as INT8.");
            Number("int8_layers", "Int8Layers", "int", "Number of layers quantized to INT8.");
            Number("layers", "Layers", "int", "Number of quantizable layers.");
            Number("evaluation_tokens", "EvaluationTokens", "int", "Number of predicted tokens the figures were measured on.");
            if (metrics["policy"] is JsonString policy)
            {
                list.Add(new MetricConstant("Policy", "string", Microsoft.CodeAnalysis.CSharp.SymbolDisplay.FormatLiteral(policy.Value, quote: true),
                    "The policy kind that chose the INT8 layers."));
            }

            if (metrics["kept_layers"] is JsonString kept)
            {
                list.Add(new MetricConstant("KeptLayers", "string", Microsoft.CodeAnalysis.CSharp.SymbolDisplay.FormatLiteral(kept.Value, quote: true),
                    "The layers kept out of INT8, each with the reason the policy gave; empty when every layer is INT8."));
            }

            return list.ToEquatableArray();
        }

        private EquatableArray<TensorModel> ReadTensors(JsonObject signature, string key, string kind)
        {
            var node = Require(signature, key, "signature." + key);
            if (node is null)
            {
                return default;
            }

            if (node is not JsonArray array)
            {
                Invalid(node, $"'signature.{key}' must be an array, not {Describe(node)}");
                return default;
            }

            var tensors = new List<TensorModel>(array.Items.Count);
            var seen = new HashSet<string>(System.StringComparer.Ordinal);
            for (int i = 0; i < array.Items.Count; i++)
            {
                string where = string.Format(CultureInfo.InvariantCulture, "signature.{0}[{1}]", key, i);
                if (array.Items[i] is not JsonObject entry)
                {
                    Invalid(array.Items[i], $"'{where}' must be an object, not {Describe(array.Items[i])}");
                    continue;
                }

                var name = RequireString(entry, "name", where + ".name");
                var elementType = RequireString(entry, "element_type", where + ".element_type");
                var shape = ReadShape(entry, where);
                if (name is null || elementType is null || shape is null)
                {
                    continue;
                }

                if (name.Value.Length == 0)
                {
                    Invalid(name, $"'{where}.name' must not be empty");
                    continue;
                }

                if (!seen.Add(name.Value))
                {
                    Invalid(name, $"{kind} '{name.Value}' appears twice in the signature");
                    continue;
                }

                if (!ElementTypes.IsKnown(elementType.Value))
                {
                    Invalid(elementType, $"{kind} '{name.Value}' has element_type '{elementType.Value}', which the generator does not support (supported: float32, float16, float64, bfloat16, int8, uint8, int16, uint16, int32, uint32, int64, uint64, bool, string)");
                    continue;
                }

                tensors.Add(new TensorModel(name.Value, elementType.Value, shape.Value));
            }

            return tensors.ToEquatableArray();
        }

        private EquatableArray<Dimension>? ReadShape(JsonObject entry, string where)
        {
            var node = Require(entry, "shape", where + ".shape");
            if (node is null)
            {
                return null;
            }

            if (node is not JsonArray array)
            {
                Invalid(node, $"'{where}.shape' must be an array, not {Describe(node)}");
                return null;
            }

            var dims = new List<Dimension>(array.Items.Count);
            foreach (var item in array.Items)
            {
                switch (item)
                {
                    case JsonNumber n when n.TryGetInt64(out long size) && size >= 0:
                        dims.Add(new Dimension(size, null));
                        break;
                    case JsonString s:
                        dims.Add(new Dimension(null, s.Value));
                        break;
                    case JsonLiteral l when l.Kind == JsonKind.Null:
                        dims.Add(new Dimension(null, null));
                        break;
                    default:
                        Invalid(item, $"a dimension in '{where}.shape' must be a non-negative integer, a string or null, not {Describe(item)}");
                        return null;
                }
            }

            return dims.ToEquatableArray();
        }

        private (string Namespace, string ClassName, bool IsPublic)? ResolveNames(string modelFile, ManifestOptions options)
        {
            bool ok = true;
            bool isPublic = true;
            if (options.Access != null)
            {
                if (string.Equals(options.Access, "internal", System.StringComparison.OrdinalIgnoreCase))
                {
                    isPublic = false;
                }
                else if (!string.Equals(options.Access, "public", System.StringComparison.OrdinalIgnoreCase))
                {
                    InvalidMetadata($"Access '{options.Access}' is not supported; use 'public' or 'internal'");
                    ok = false;
                }
            }

            string className;
            if (options.ClassName != null)
            {
                string? normalized = Identifiers.NormalizeUserIdentifier(options.ClassName);
                if (normalized is null)
                {
                    InvalidMetadata($"ClassName '{options.ClassName}' is not a valid C# identifier");
                    ok = false;
                    className = string.Empty;
                }
                else if (System.Array.IndexOf(ReservedClassNames, Identifiers.Unescape(normalized)) >= 0)
                {
                    InvalidMetadata($"ClassName '{options.ClassName}' is the name of a member of the generated class; choose another name");
                    ok = false;
                    className = string.Empty;
                }
                else
                {
                    className = normalized;
                }
            }
            else
            {
                // stories260K.q.onnx -> Stories260KQ
                className = Identifiers.ToPascalCase(WithoutExtension(FileName(modelFile)));
                if (className.Length == 0)
                {
                    className = "OnnxModel";
                }
                else if (System.Array.IndexOf(ReservedClassNames, className) >= 0)
                {
                    className += "Model";
                }
            }

            string ns = string.Empty;
            string? nsText = options.Namespace ?? options.RootNamespace;
            if (nsText != null)
            {
                string? normalized = NormalizeNamespace(nsText);
                if (normalized is null)
                {
                    string source = options.Namespace != null ? "Namespace" : "RootNamespace (used because the item has no Namespace)";
                    InvalidMetadata($"{source} '{nsText}' is not a valid C# namespace");
                    ok = false;
                }
                else
                {
                    ns = normalized;
                }
            }

            return ok ? (ns, className, isPublic) : null;
        }

        private static string? NormalizeNamespace(string text)
        {
            var segments = text.Split('.');
            for (int i = 0; i < segments.Length; i++)
            {
                string? segment = Identifiers.NormalizeUserIdentifier(segments[i].Trim());
                if (segment is null)
                {
                    return null;
                }

                segments[i] = segment;
            }

            return string.Join(".", segments);
        }

        private static string Unescape(string ns)
        {
            var segments = ns.Split('.');
            for (int i = 0; i < segments.Length; i++)
            {
                segments[i] = Identifiers.Unescape(segments[i]);
            }

            return string.Join(".", segments);
        }

        private static EquatableArray<InputMember> NameInputs(EquatableArray<TensorModel> inputs, string className)
        {
            var names = new NameAllocator(NestedReserved("Inputs", className));
            var properties = new List<string>();
            foreach (var tensor in inputs)
            {
                properties.Add(names.Allocate(BaseName(tensor.Name, "Input")));
            }

            var members = new List<InputMember>();
            for (int i = 0; i < inputs.Count; i++)
            {
                members.Add(new InputMember(inputs[i], properties[i], names.Allocate("Set" + Identifiers.Unescape(properties[i]))));
            }

            return members.ToEquatableArray();
        }

        private static EquatableArray<OutputMember> NameOutputs(EquatableArray<TensorModel> outputs, string className)
        {
            var names = new NameAllocator(NestedReserved("Outputs", className));
            var properties = new List<string>();
            foreach (var tensor in outputs)
            {
                properties.Add(names.Allocate(BaseName(tensor.Name, "Output")));
            }

            var members = new List<OutputMember>();
            for (int i = 0; i < outputs.Count; i++)
            {
                string bare = Identifiers.Unescape(properties[i]);
                members.Add(new OutputMember(outputs[i], properties[i], names.Allocate(bare + "Data"), names.Allocate(bare + "Shape")));
            }

            return members.ToEquatableArray();
        }

        private static IEnumerable<string> NestedReserved(string typeName, string className)
        {
            yield return typeName;
            yield return "Inputs";
            yield return "Outputs";
            yield return "Dispose";
            yield return Identifiers.Unescape(className);
            foreach (var member in ObjectMembers)
            {
                yield return member;
            }
        }

        private static string BaseName(string tensorName, string fallback)
        {
            string name = Identifiers.ToPascalCase(tensorName);
            return Identifiers.Escape(name.Length == 0 ? fallback : name);
        }

        private DecoderModel? ReadDecoder(JsonObject manifest, EquatableArray<TensorModel> inputs, EquatableArray<TensorModel> outputs)
        {
            var node = manifest["decoder"];
            if (node is null || node.Kind == JsonKind.Null)
            {
                return null;
            }

            if (node is not JsonObject decoder)
            {
                Invalid(node, $"'decoder' must be an object or null, not {Describe(node)}");
                return null;
            }

            var problems = new List<string>();
            int? numLayers = ReadDecoderInt(decoder, "num_layers", 1, problems);
            int? numKvHeads = ReadDecoderInt(decoder, "num_kv_heads", 1, problems);
            int? headDim = ReadDecoderInt(decoder, "head_dim", 1, problems);
            long? vocabSize = ReadDecoderLong(decoder, "vocab_size", 1, problems);
            long? bos = ReadDecoderLong(decoder, "bos_token_id", 0, problems);
            long? eos = ReadDecoderLong(decoder, "eos_token_id", 0, problems);

            if (numLayers is null || numKvHeads is null || headDim is null)
            {
                problems.Add("'decoder' needs num_layers, num_kv_heads and head_dim");
            }

            var eosIds = ReadEosTokenIds(decoder, eos, problems);
            GreedyPlan? plan = null;
            if (decoder["state"] is JsonArray)
            {
                // The decoder contract (docs/manifest.md): names, types and states come from the manifest.
                problems.RemoveAll(p => p.StartsWith("'decoder' needs", System.StringComparison.Ordinal));
                if (problems.Count == 0)
                {
                    plan = PlanFromContract(decoder, inputs, eosIds, problems);
                }
            }
            else if (problems.Count == 0)
            {
                plan = PlanGreedy(inputs, outputs, numLayers!.Value, numKvHeads!.Value, headDim!.Value, eosIds, problems);
            }

            if (problems.Count > 0)
            {
                Report(DiagnosticInfo.Create(
                    DiagnosticDescriptors.GreedyGenerationOmitted,
                    _path,
                    decoder.Start.Offset,
                    decoder.Length,
                    decoder.Start.Line,
                    decoder.Start.Column,
                    _fileName,
                    string.Join("; ", problems)));
                plan = null;
            }

            long? maxPositions = ReadDecoderLong(decoder, "max_positions", 1, problems);
            return new DecoderModel(numLayers, numKvHeads, headDim, vocabSize, bos, eos, plan, maxPositions);
        }

        private static GreedyPlan? PlanGreedy(
            EquatableArray<TensorModel> inputs,
            EquatableArray<TensorModel> outputs,
            int numLayers,
            int numKvHeads,
            int headDim,
            EquatableArray<long> eosIds,
            List<string> problems)
        {
            var greedyInputs = new List<GreedyInput>();
            var pastSeen = new bool[numLayers * 2];
            var pastTypes = new string[numLayers * 2];
            bool hasInputIds = false;
            foreach (var input in inputs)
            {
                switch (input.Name)
                {
                    case "input_ids":
                    case "attention_mask":
                    case "position_ids":
                        if (!ElementTypes.IsTokenInteger(input.ElementType) || input.Shape.Count != 2)
                        {
                            problems.Add($"input '{input.Name}' must be an int64 or int32 tensor of rank 2");
                            continue;
                        }

                        var role = input.Name == "input_ids" ? GreedyInputRole.InputIds
                            : input.Name == "attention_mask" ? GreedyInputRole.AttentionMask
                            : GreedyInputRole.PositionIds;
                        hasInputIds |= role == GreedyInputRole.InputIds;
                        greedyInputs.Add(new GreedyInput(input.Name, role, input.ElementType, input.Shape.Count));
                        continue;
                }

                int cacheIndex = PastIndex(input.Name, numLayers);
                if (cacheIndex < 0)
                {
                    problems.Add($"input '{input.Name}' is neither input_ids, attention_mask, position_ids nor past_key_values.{{0..{numLayers - 1}}}.key/value");
                    continue;
                }

                if (!ElementTypes.IsFloatingPoint(input.ElementType) || input.Shape.Count != 4)
                {
                    problems.Add($"input '{input.Name}' must be a floating-point tensor of rank 4 [batch, num_kv_heads, past_sequence_length, head_dim]");
                    continue;
                }

                if (Mismatch(input.Shape[1], numKvHeads) || Mismatch(input.Shape[3], headDim))
                {
                    problems.Add($"input '{input.Name}' has shape {ShapeText(input.Shape)}, which disagrees with num_kv_heads {numKvHeads} and head_dim {headDim}");
                    continue;
                }

                pastSeen[cacheIndex] = true;
                greedyInputs.Add(new GreedyInput(input.Name, GreedyInputRole.State, input.ElementType, input.Shape.Count));
                pastTypes[cacheIndex] = input.ElementType;
            }

            if (!hasInputIds)
            {
                problems.Add("the signature has no input 'input_ids'");
            }

            for (int i = 0; i < pastSeen.Length; i++)
            {
                if (!pastSeen[i])
                {
                    problems.Add($"the signature has no input '{CacheName("past_key_values", i)}'");
                }
            }

            TensorModel? logits = null;
            var presentNames = new List<string>();
            var outputNames = new HashSet<string>(System.StringComparer.Ordinal);
            foreach (var output in outputs)
            {
                outputNames.Add(output.Name);
                if (output.Name == "logits")
                {
                    logits = output;
                }
            }

            if (logits is null)
            {
                problems.Add("the signature has no output 'logits'");
            }
            else if (!ElementTypes.IsFloatingPoint(logits.ElementType))
            {
                problems.Add($"output 'logits' has element_type '{logits.ElementType}', not a floating-point type");
            }

            for (int i = 0; i < numLayers * 2; i++)
            {
                string name = CacheName("present", i);
                if (!outputNames.Contains(name))
                {
                    problems.Add($"the signature has no output '{name}'");
                }

                presentNames.Add(name);
            }

            if (problems.Count > 0 || logits is null)
            {
                return null;
            }

            // States in graph order (the order of the past_key_values inputs), each fed [1, heads, 0, head_dim] first.
            var states = new List<GreedyState>();
            foreach (var input in greedyInputs)
            {
                if (input.Role == GreedyInputRole.State)
                {
                    int index = PastIndex(input.Name, numLayers);
                    states.Add(new GreedyState(input.Name, presentNames[index], pastTypes[index], new long[] { 1, numKvHeads, 0, headDim }.ToEquatableArray(), 2));
                }
            }

            return new GreedyPlan(greedyInputs.ToEquatableArray(), states.ToEquatableArray(), logits.Name, logits.ElementType, eosIds);
        }

        private static EquatableArray<long> ReadEosTokenIds(JsonObject decoder, long? eos, List<string> problems)
        {
            var ids = new List<long>();
            var node = decoder["eos_token_ids"];
            if (node is JsonArray array)
            {
                foreach (var item in array.Items)
                {
                    if (item is JsonNumber n && n.TryGetInt64(out long id) && id >= 0)
                    {
                        ids.Add(id);
                    }
                    else
                    {
                        problems.Add("'decoder.eos_token_ids' must hold integers >= 0");
                        break;
                    }
                }
            }
            else if (node != null && node.Kind != JsonKind.Null)
            {
                problems.Add("'decoder.eos_token_ids' must be an array");
            }
            else if (eos.HasValue)
            {
                ids.Add(eos.Value);
            }

            return ids.ToEquatableArray();
        }

        /// <summary>The plan for a manifest with the decoder contract: every input named by it, states in graph order.</summary>
        private static GreedyPlan? PlanFromContract(JsonObject decoder, EquatableArray<TensorModel> inputs, EquatableArray<long> eosIds, List<string> problems)
        {
            var roles = new Dictionary<string, (GreedyInputRole Role, string? Type)>(System.StringComparer.Ordinal);
            void Named(string key, GreedyInputRole role, bool required)
            {
                var node = decoder[key];
                if (node is JsonObject obj && obj["name"] is JsonString name)
                {
                    roles[name.Value] = (role, (obj["type"] as JsonString)?.Value);
                }
                else if (node != null && node.Kind != JsonKind.Null)
                {
                    problems.Add($"'decoder.{key}' must be an object with a 'name'");
                }
                else if (required)
                {
                    problems.Add($"'decoder.{key}' is missing");
                }
            }

            Named("input_ids", GreedyInputRole.InputIds, required: true);
            Named("attention_mask", GreedyInputRole.AttentionMask, required: false);
            Named("position_ids", GreedyInputRole.PositionIds, required: false);
            if (decoder["extra_inputs"] is JsonArray extras)
            {
                foreach (var item in extras.Items)
                {
                    string? kind = ((item as JsonObject)?["kind"] as JsonString)?.Value;
                    string? name = ((item as JsonObject)?["name"] as JsonString)?.Value;
                    var role = kind == "seqlens_k" ? GreedyInputRole.SeqlensK
                        : kind == "total_sequence_length" ? GreedyInputRole.TotalSequenceLength
                        : kind == "use_cache_branch" ? GreedyInputRole.UseCacheBranch
                        : (GreedyInputRole?)null;
                    if (name is null || role is null)
                    {
                        problems.Add($"'decoder.extra_inputs' holds an entry of kind '{kind}' that generation cannot feed");
                        continue;
                    }

                    roles[name] = (role.Value, ((JsonObject)item)["type"] is JsonString t ? t.Value : null);
                }
            }

            var states = new List<GreedyState>();
            var stateInputs = new HashSet<string>(System.StringComparer.Ordinal);
            foreach (var item in ((JsonArray)decoder["state"]!).Items)
            {
                var obj = item as JsonObject;
                string? input = (obj?["input"] as JsonString)?.Value;
                string? output = (obj?["output"] as JsonString)?.Value;
                string? type = (obj?["type"] as JsonString)?.Value;
                var shape = new List<long>();
                bool shapeOk = obj?["initial_shape"] is JsonArray dims;
                if (shapeOk)
                {
                    foreach (var d in ((JsonArray)obj!["initial_shape"]!).Items)
                    {
                        if (d is JsonNumber n && n.TryGetInt64(out long size) && size >= 0)
                        {
                            shape.Add(size);
                        }
                        else
                        {
                            shapeOk = false;
                        }
                    }
                }

                int? axis = obj?["sequence_axis"] is JsonNumber a && a.TryGetInt64(out long ax) ? (int)ax : (int?)null;
                if (input is null || output is null || type is null || !ElementTypes.IsKnown(type) || !shapeOk)
                {
                    problems.Add("every 'decoder.state' entry needs input, output, a known type and initial_shape");
                    continue;
                }

                stateInputs.Add(input);
                states.Add(new GreedyState(input, output, type, shape.ToEquatableArray(), axis));
            }

            string? logitsName = ((decoder["logits"] as JsonObject)?["name"] as JsonString)?.Value;
            string? logitsType = ((decoder["logits"] as JsonObject)?["type"] as JsonString)?.Value;
            if (logitsName is null || logitsType is null || !ElementTypes.IsFloatingPoint(logitsType))
            {
                problems.Add("'decoder.logits' needs a name and a floating-point type");
            }

            var greedyInputs = new List<GreedyInput>();
            foreach (var input in inputs)
            {
                if (stateInputs.Contains(input.Name))
                {
                    greedyInputs.Add(new GreedyInput(input.Name, GreedyInputRole.State, input.ElementType, input.Shape.Count));
                }
                else if (roles.TryGetValue(input.Name, out var role))
                {
                    if (role.Role == GreedyInputRole.UseCacheBranch ? input.ElementType != "bool" : !ElementTypes.IsTokenInteger(input.ElementType))
                    {
                        problems.Add(role.Role == GreedyInputRole.UseCacheBranch ? $"input '{input.Name}' must be bool" : $"input '{input.Name}' must be int32 or int64");
                    }

                    greedyInputs.Add(new GreedyInput(input.Name, role.Role, input.ElementType, input.Shape.Count));
                }
                else
                {
                    problems.Add($"input '{input.Name}' is not part of the decoder contract, so generation cannot feed it");
                }
            }

            if (!greedyInputs.Exists(i => i.Role == GreedyInputRole.InputIds))
            {
                problems.Add("the signature has no input_ids input");
            }

            return problems.Count > 0
                ? null
                : new GreedyPlan(greedyInputs.ToEquatableArray(), states.ToEquatableArray(), logitsName!, logitsType!, eosIds);
        }

        private static string CacheName(string prefix, int cacheIndex)
            => string.Format(CultureInfo.InvariantCulture, "{0}.{1}.{2}", prefix, cacheIndex / 2, cacheIndex % 2 == 0 ? "key" : "value");

        /// <summary>2*layer for past_key_values.{layer}.key, 2*layer+1 for .value; -1 for any other name.</summary>
        private static int PastIndex(string name, int numLayers)
        {
            const string Prefix = "past_key_values.";
            if (!name.StartsWith(Prefix, System.StringComparison.Ordinal))
            {
                return -1;
            }

            int dot = name.IndexOf('.', Prefix.Length);
            if (dot < 0
                || !int.TryParse(name.Substring(Prefix.Length, dot - Prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int layer)
                || layer >= numLayers)
            {
                return -1;
            }

            string kind = name.Substring(dot + 1);
            int index = kind == "key" ? layer * 2 : kind == "value" ? (layer * 2) + 1 : -1;
            return index >= 0 && CacheName("past_key_values", index) == name ? index : -1;
        }

        private static bool Mismatch(Dimension dimension, int expected) => dimension.Size.HasValue && dimension.Size.Value != expected;

        internal static string ShapeText(EquatableArray<Dimension> shape)
        {
            var parts = new string[shape.Count];
            for (int i = 0; i < parts.Length; i++)
            {
                var d = shape[i];
                parts[i] = d.Size.HasValue ? d.Size.Value.ToString(CultureInfo.InvariantCulture) : d.Symbol ?? "?";
            }

            return "[" + string.Join(", ", parts) + "]";
        }

        private static int? ReadDecoderInt(JsonObject decoder, string key, long min, List<string> problems)
        {
            long? value = ReadDecoderLong(decoder, key, min, problems);
            if (value.HasValue && value.Value > int.MaxValue)
            {
                problems.Add($"'decoder.{key}' is too large");
                return null;
            }

            return (int?)value;
        }

        private static long? ReadDecoderLong(JsonObject decoder, string key, long min, List<string> problems)
        {
            var node = decoder[key];
            if (node is null || node.Kind == JsonKind.Null)
            {
                return null;
            }

            if (node is JsonNumber number && number.TryGetInt64(out long value) && value >= min)
            {
                return value;
            }

            problems.Add(string.Format(CultureInfo.InvariantCulture, "'decoder.{0}' must be an integer >= {1}", key, min));
            return null;
        }

        private JsonNode? Require(JsonObject parent, string key, string displayPath)
        {
            var node = parent[key];
            if (node is null)
            {
                Invalid(parent, $"missing required field '{displayPath}'");
            }

            return node;
        }

        private JsonObject? RequireObject(JsonObject parent, string key, string displayPath)
        {
            var node = Require(parent, key, displayPath);
            if (node is null)
            {
                return null;
            }

            if (node is JsonObject obj)
            {
                return obj;
            }

            Invalid(node, $"'{displayPath}' must be an object, not {Describe(node)}");
            return null;
        }

        private JsonString? RequireString(JsonObject parent, string key, string displayPath)
        {
            var node = Require(parent, key, displayPath);
            if (node is null)
            {
                return null;
            }

            if (node is JsonString s)
            {
                return s;
            }

            Invalid(node, $"'{displayPath}' must be a string, not {Describe(node)}");
            return null;
        }

        private void Invalid(JsonNode node, string message)
        {
            Report(DiagnosticInfo.Create(
                DiagnosticDescriptors.ManifestInvalid,
                _path,
                node.Start.Offset,
                node.Length,
                node.Start.Line,
                node.Start.Column,
                _fileName,
                message));
        }

        private void InvalidMetadata(string message)
            => Report(DiagnosticInfo.AtFile(DiagnosticDescriptors.InvalidMetadata, _path, _fileName, message));

        private void Report(DiagnosticInfo diagnostic)
        {
            _hasErrors |= DiagnosticDescriptors.ById(diagnostic.Id).DefaultSeverity == DiagnosticSeverity.Error;
            _diagnostics.Add(diagnostic);
        }

        private static string Describe(JsonNode node) => node.KindName;

        /// <summary>The last segment of a path with either separator; System.IO.Path throws on some characters on .NET Framework.</summary>
        internal static string FileName(string path)
        {
            int slash = System.Math.Max(path.LastIndexOf('/'), path.LastIndexOf('\\'));
            return slash < 0 ? path : path.Substring(slash + 1);
        }

        private static string WithoutExtension(string fileName)
        {
            int dot = fileName.LastIndexOf('.');
            return dot <= 0 ? fileName : fileName.Substring(0, dot);
        }
    }
}

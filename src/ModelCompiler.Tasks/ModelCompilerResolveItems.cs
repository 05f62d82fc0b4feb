using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace ModelCompiler.Tasks
{
    /// <summary>
    /// Turns the QuantizedModel items into everything the targets need, in one place: full paths, the class name,
    /// the per-item folder under obj/ and the files modelc writes there, the paths in the output folder, and, per
    /// item, the inputs of the up-to-date check (spec, options, and the dependency file modelc wrote last time).
    /// Every produced item carries <c>Source</c> (the model's full path) so that target batching keeps items apart.
    /// </summary>
    public class ModelCompilerResolveItems : Task
    {
        /// <summary>Suffix of the quantized model: models/stories260K.onnx → stories260K.q.onnx.</summary>
        internal const string QuantizedSuffix = ".q";

        /// <summary>
        /// The names modelc gives its tokenizer copy, one per format (llama2.c, tokenizer.json, SentencePiece; see
        /// TokenizerLoader.CopySuffixes). Which one a compile writes is known only once modelc has resolved the spec's
        /// tokenizer, so every name is listed: the copy step takes those that exist, clean removes all.
        /// </summary>
        internal static readonly string[] TokenizerSuffixes = { ".tokenizer.bin", ".tokenizer.json", ".tokenizer.model" };

        /// <summary>The metadata naming each tokenizer copy: Tokenizer (.bin), TokenizerJson, TokenizerModel.</summary>
        internal static readonly string[] TokenizerMetadata = { "Tokenizer", "TokenizerJson", "TokenizerModel" };

        /// <summary>@(QuantizedModel).</summary>
        [Required]
        public ITaskItem[] Models { get; set; } = Array.Empty<ITaskItem>();

        /// <summary>$(MSBuildProjectDirectory): relative paths are relative to it.</summary>
        [Required]
        public string ProjectDirectory { get; set; } = "";

        /// <summary>$(MSBuildProjectFullPath): where errors about an item point.</summary>
        public string? ProjectFile { get; set; }

        /// <summary>$(ModelCompiler_IntermediateDir): each item gets a folder below it.</summary>
        [Required]
        public string IntermediateDirectory { get; set; } = "";

        /// <summary>Options that change what modelc writes; recorded per item so a change re-runs it.</summary>
        public string? CliPath { get; set; }

        public string? OrtNativePath { get; set; }

        public bool GatesAsWarnings { get; set; }

        /// <summary>Write each item's options file (only when its text changes); false for clean.</summary>
        public bool WriteOptionsFiles { get; set; }

        /// <summary>One per QuantizedModel: ItemSpec the model's full path, metadata for the compile task.</summary>
        [Output]
        public ITaskItem[] ResolvedModels { get; private set; } = Array.Empty<ITaskItem>();

        /// <summary>Inputs of the up-to-date check besides the model: spec, options file, files modelc read last time.</summary>
        [Output]
        public ITaskItem[] Inputs { get; private set; } = Array.Empty<ITaskItem>();

        /// <summary>Outputs of the up-to-date check: the files every successful run leaves.</summary>
        [Output]
        public ITaskItem[] ExpectedOutputs { get; private set; } = Array.Empty<ITaskItem>();

        /// <summary>
        /// Every file an item may write, with <c>Kind</c> (model, tokenizer, data, manifest, report, deps, stamp, options);
        /// the copied ones with <c>TargetPath</c>, the manifest with the AdditionalFiles metadata the generator reads.
        /// </summary>
        [Output]
        public ITaskItem[] OutputFiles { get; private set; } = Array.Empty<ITaskItem>();

        public override bool Execute()
        {
            var projectDir = Path.GetFullPath(ProjectDirectory);
            var intermediateDir = Path.GetFullPath(Path.Combine(projectDir, IntermediateDirectory));

            var models = new List<(ITaskItem Item, string ModelPath)>();
            var seen = new Dictionary<string, ITaskItem>(PathComparer);
            foreach (var item in Models)
            {
                var modelPath = Path.GetFullPath(Path.Combine(projectDir, item.ItemSpec));
                if (seen.ContainsKey(modelPath))
                {
                    LogItemError(TaskCodes.DuplicateModel,
                        $"the model '{item.ItemSpec}' is listed in more than one QuantizedModel item: list each model once (copy the file to quantize it with two specs).");
                    continue;
                }

                seen.Add(modelPath, item);
                models.Add((item, modelPath));
            }

            // A folder per item named after the model; models that share a file name get a hash of their path.
            var nameCounts = models.GroupBy(m => FolderName(m.ModelPath), StringComparer.OrdinalIgnoreCase)
                .ToDictionary(g => g.Key, g => g.Count(), StringComparer.OrdinalIgnoreCase);

            var resolved = new List<ITaskItem>();
            var inputs = new List<ITaskItem>();
            var expected = new List<ITaskItem>();
            var outputs = new List<ITaskItem>();
            foreach (var (item, modelPath) in models)
            {
                var folder = FolderName(modelPath);
                if (nameCounts[folder] > 1)
                {
                    folder += "-" + ShortHash(modelPath);
                }

                var r = Resolve(item, modelPath, projectDir, Path.Combine(intermediateDir, folder) + Path.DirectorySeparatorChar);
                if (r == null)
                {
                    continue;
                }

                ManifestRecord.DropIfStale(r, Log); // a manifest that does not describe its model is "not built"
                resolved.Add(r);
                inputs.AddRange(InputsOf(r, projectDir));
                expected.AddRange(new[] { "OutputModel", "Manifest", "Report", "StampFile" }.Select(m => FileItem(r, r.GetMetadata(m))));
                outputs.AddRange(OutputsOf(r));
            }

            ResolvedModels = resolved.ToArray();
            Inputs = inputs.ToArray();
            ExpectedOutputs = expected.ToArray();
            OutputFiles = outputs.ToArray();
            return !Log.HasLoggedErrors;
        }

        private ITaskItem? Resolve(ITaskItem item, string modelPath, string projectDir, string outputDir)
        {
            var spec = item.GetMetadata("Spec").Trim();
            if (spec.Length == 0)
            {
                LogItemError(TaskCodes.MissingSpecMetadata,
                    $"QuantizedModel '{item.ItemSpec}' has no Spec metadata: add Spec=\"path/to/model.quant.yaml\" to the item.");
                return null;
            }

            var access = item.GetMetadata("Access").Trim().ToLowerInvariant();
            if (access.Length == 0)
            {
                access = "public";
            }
            else if (access != "public" && access != "internal")
            {
                LogItemError(TaskCodes.InvalidAccess,
                    $"QuantizedModel '{item.ItemSpec}' has Access=\"{item.GetMetadata("Access")}\": use public or internal.");
                return null;
            }

            var stem = Path.GetFileNameWithoutExtension(modelPath);
            var className = item.GetMetadata("ClassName").Trim();
            var outputModel = Path.Combine(outputDir, stem + QuantizedSuffix + ".onnx");
            if (className.Length > 0 && !Identifiers.IsValid(className))
            {
                LogItemError(TaskCodes.InvalidClassName,
                    $"QuantizedModel '{item.ItemSpec}' has ClassName=\"{className}\", which is not a C# identifier: use letters, digits and '_', not starting with a digit, and not a keyword.");
                return null;
            }

            var explicitTarget = item.GetMetadata("TargetDirectory").Trim().Replace('\\', '/');
            if (explicitTarget.StartsWith("/", StringComparison.Ordinal) || Path.IsPathRooted(explicitTarget) || explicitTarget.Contains(":")
                || explicitTarget.Split('/').Any(part => part == ".."))
            {
                LogItemError(TaskCodes.TargetDirectoryEscapes,
                    $"QuantizedModel '{item.ItemSpec}' has TargetDirectory=\"{item.GetMetadata("TargetDirectory")}\", which leaves the output folder: use a relative folder without '..'.");
                return null;
            }

            var targetDir = TargetDirectory(item, modelPath, projectDir);

            var r = new TaskItem(modelPath);
            r.SetMetadata("Source", modelPath);
            r.SetMetadata("ModelPath", modelPath);
            r.SetMetadata("SpecPath", Path.GetFullPath(Path.Combine(projectDir, spec)));
            r.SetMetadata("ClassName", className.Length > 0 ? className : Identifiers.ToPascalCase(stem));
            r.SetMetadata("Namespace", item.GetMetadata("Namespace").Trim());
            r.SetMetadata("Access", access);
            r.SetMetadata("OutputDirectory", outputDir);
            r.SetMetadata("OutputModel", outputModel);
            for (var i = 0; i < TokenizerSuffixes.Length; i++)
            {
                r.SetMetadata(TokenizerMetadata[i], Path.Combine(outputDir, stem + QuantizedSuffix + TokenizerSuffixes[i]));
            }

            r.SetMetadata("ExternalData", outputModel + ".data");
            r.SetMetadata("Manifest", Path.Combine(outputDir, stem + ".manifest.json"));
            r.SetMetadata("Report", Path.Combine(outputDir, stem + ".report.md"));
            // modelc draws the per-layer plot beside the report (<report stem>.layers.svg).
            r.SetMetadata("LayerPlot", Path.Combine(outputDir, stem + ".report.layers.svg"));
            r.SetMetadata("DependencyFile", Path.Combine(outputDir, "modelc.deps"));
            r.SetMetadata("StampFile", Path.Combine(outputDir, "modelc.stamp"));
            r.SetMetadata("OptionsFile", Path.Combine(outputDir, "modelc.options"));
            r.SetMetadata("TargetDirectory", targetDir);
            r.SetMetadata("ModelTargetPath", targetDir + Path.GetFileName(outputModel));

            if (WriteOptionsFiles)
            {
                WriteIfChanged(r.GetMetadata("OptionsFile"), OptionsText(r));
            }

            return r;
        }

        // Where the copies go in the output folder: the TargetDirectory metadata, else the model's folder
        // relative to the project, else (a model outside the project) the output folder itself.
        private static string TargetDirectory(ITaskItem item, string modelPath, string projectDir)
        {
            var explicitDir = item.GetMetadata("TargetDirectory").Trim();
            string relative;
            if (explicitDir.Length > 0)
            {
                relative = explicitDir;
            }
            else
            {
                var root = projectDir.TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar) + Path.DirectorySeparatorChar;
                var dir = Path.GetDirectoryName(modelPath) + Path.DirectorySeparatorChar;
                relative = dir.StartsWith(root, PathComparison) ? dir.Substring(root.Length) : "";
            }

            relative = relative.Replace('\\', '/').Trim('/');
            return relative.Length == 0 ? "" : relative.Replace('/', Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
        }

        private IEnumerable<ITaskItem> InputsOf(ITaskItem r, string projectDir)
        {
            yield return FileItem(r, r.GetMetadata("SpecPath"));
            yield return FileItem(r, r.GetMetadata("OptionsFile"));

            // modelc's dependency file from the last run: model, external data, spec, texts, tokenizer.
            var deps = r.GetMetadata("DependencyFile");
            if (!File.Exists(deps))
            {
                yield break;
            }

            string[] lines;
            try
            {
                lines = File.ReadAllLines(deps);
            }
            catch (IOException e)
            {
                // Without the list the spec, model and options still decide; the next run rewrites it.
                Log.LogMessage(MessageImportance.Low, "ModelCompiler: cannot read {0}: {1}", deps, e.Message);
                yield break;
            }

            foreach (var line in lines.Select(l => l.Trim()).Where(l => l.Length > 0 && l[0] != '#').Distinct(PathComparer))
            {
                yield return FileItem(r, Path.GetFullPath(Path.Combine(projectDir, line)));
            }
        }

        private static IEnumerable<ITaskItem> OutputsOf(ITaskItem r)
        {
            var targetDir = r.GetMetadata("TargetDirectory");
            foreach (var (kind, metadata) in new[]
            {
                ("model", "OutputModel"), ("tokenizer", TokenizerMetadata[0]), ("tokenizer", TokenizerMetadata[1]), ("tokenizer", TokenizerMetadata[2]),
                ("data", "ExternalData"), ("manifest", "Manifest"),
                ("report", "Report"), ("layer_plot", "LayerPlot"), ("deps", "DependencyFile"), ("stamp", "StampFile"), ("options", "OptionsFile"),
            })
            {
                var file = FileItem(r, r.GetMetadata(metadata));
                file.SetMetadata("Kind", kind);
                if (kind == "model" || kind == "tokenizer" || kind == "data")
                {
                    file.SetMetadata("TargetPath", targetDir + Path.GetFileName(file.ItemSpec));
                }

                if (kind == "manifest")
                {
                    file.SetMetadata("ModelCompilerManifest", "true");
                    file.SetMetadata("ModelCompilerClassName", r.GetMetadata("ClassName"));
                    file.SetMetadata("ModelCompilerNamespace", r.GetMetadata("Namespace"));
                    file.SetMetadata("ModelCompilerAccess", r.GetMetadata("Access"));
                    file.SetMetadata("ModelCompilerModelPath", r.GetMetadata("ModelTargetPath").Replace('\\', '/'));
                }

                yield return file;
            }
        }

        internal string OptionsText(ITaskItem r) => string.Join("\n", new[]
        {
            "# The modelc options of one QuantizedModel: when this text changes, modelc runs again for it.",
            "model=" + r.GetMetadata("ModelPath"),
            "spec=" + r.GetMetadata("SpecPath"),
            "output=" + r.GetMetadata("OutputModel"),
            "cli=" + (string.IsNullOrEmpty(CliPath) ? "" : Path.GetFullPath(CliPath)),
            "ort-native=" + (string.IsNullOrEmpty(OrtNativePath) ? "" : Path.GetFullPath(OrtNativePath)),
            "gates-as-warnings=" + (GatesAsWarnings ? "true" : "false"),
        }) + "\n";

        private void WriteIfChanged(string path, string text)
        {
            // Rewriting unchanged text would make the file newer than the outputs and re-run modelc every build.
            if (File.Exists(path) && File.ReadAllText(path) == text)
            {
                return;
            }

            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, text, new UTF8Encoding(false));
        }

        private static TaskItem FileItem(ITaskItem r, string path)
        {
            var item = new TaskItem(path);
            item.SetMetadata("Source", r.GetMetadata("Source"));
            return item;
        }

        private static string FolderName(string modelPath)
        {
            var name = Path.GetFileNameWithoutExtension(modelPath);
            var invalid = Path.GetInvalidFileNameChars();
            return new string(name.Select(c => invalid.Contains(c) ? '_' : c).ToArray());
        }

        private static string ShortHash(string path)
        {
            using (var sha = SHA256.Create())
            {
                var bytes = sha.ComputeHash(Encoding.UTF8.GetBytes(path));
                return string.Concat(bytes.Take(4).Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)));
            }
        }

        private void LogItemError(string code, string message) =>
            Log.LogError(null, code, null, string.IsNullOrEmpty(ProjectFile) ? null : ProjectFile, 0, 0, 0, 0, "{0}", message);

        // Paths differ by case on Linux, not on Windows or (by default) macOS.
        private static readonly bool CaseSensitivePaths =
            System.Runtime.InteropServices.RuntimeInformation.IsOSPlatform(System.Runtime.InteropServices.OSPlatform.Linux);

        private static StringComparison PathComparison => CaseSensitivePaths ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase;

        private static StringComparer PathComparer => CaseSensitivePaths ? StringComparer.Ordinal : StringComparer.OrdinalIgnoreCase;
    }
}

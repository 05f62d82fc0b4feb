using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace ModelCompiler.Tasks
{
    /// <summary>
    /// Runs <c>modelc compile</c> out of process for one QuantizedModel item: no ONNX Runtime and no native code in the
    /// MSBuild node. modelc's diagnostics (<c>file(line,col): error CODE: text</c> on stderr) become MSBuild errors and
    /// warnings at the same place; everything else it prints becomes low-importance messages.
    /// </summary>
    /// <remarks>
    /// Exit codes: 0 all gates passed; 1 a gate failed (outputs still written); 2 bad input; 3 runtime failure.
    /// With <see cref="GatesAsWarnings"/>, exit 1 succeeds and MC2xxx errors are logged as warnings.
    /// </remarks>
    public class ModelCompilerCompile : ToolTask
    {
        internal const int ExitGateFailed = 1;

        private static readonly Encoding Utf8NoBom = new UTF8Encoding(false);

        public ModelCompilerCompile()
        {
            // modelc can run for minutes: let the node build other projects meanwhile.
            YieldDuringToolExecution = true;
        }

        /// <summary>The ONNX model to quantize (full path).</summary>
        [Required]
        public string Model { get; set; } = "";

        /// <summary>The quantization spec (YAML, full path): the Spec metadata of the item.</summary>
        public string? Spec { get; set; }

        /// <summary>The quantized model to write (--output).</summary>
        [Required]
        public string OutputModel { get; set; } = "";

        /// <summary>The manifest to write (--manifest).</summary>
        [Required]
        public string Manifest { get; set; } = "";

        /// <summary>The Markdown report to write (--report).</summary>
        [Required]
        public string Report { get; set; } = "";

        /// <summary>Where modelc lists every input file it read (--deps), for the next build's up-to-date check.</summary>
        public string? DependencyFile { get; set; }

        /// <summary>modelc: modelc.dll (run with the dotnet host) or an executable.</summary>
        public string? CliPath { get; set; }

        /// <summary>The dotnet host that runs modelc.dll; defaults to DOTNET_HOST_PATH, then dotnet on the PATH.</summary>
        public string? DotNetHostPath { get; set; }

        /// <summary>A CUDA-enabled onnxruntime native library for validation (--ort-native).</summary>
        public string? OrtNativePath { get; set; }

        /// <summary>A missed gate is a warning, not a build failure (--gates-as-warnings).</summary>
        public bool GatesAsWarnings { get; set; }

        /// <summary>modelc --verbose.</summary>
        public bool Verbose { get; set; }

        /// <summary>The name the build log uses for this model (its class name).</summary>
        public string? DisplayName { get; set; }

        /// <summary>The project that declares the item: where errors about the item itself point.</summary>
        public string? ProjectFile { get; set; }

        /// <summary>A file the Markdown report is appended to after each run (ModelCompiler_SummaryFile, e.g. $GITHUB_STEP_SUMMARY).</summary>
        public string? SummaryFile { get; set; }

        /// <summary>The report, when modelc wrote one in this run (also after a missed gate).</summary>
        [Output]
        public string? WrittenReport { get; private set; }

        // Hide from MSBuild: modelc never runs through a shell.
        private new bool UseCommandProcessor { get; set; }

        private bool IsManagedCli => CliPath != null && CliPath.EndsWith(".dll", StringComparison.OrdinalIgnoreCase);

        private static bool IsWindows => RuntimeInformation.IsOSPlatform(OSPlatform.Windows);

        protected override string ToolName => IsManagedCli ? (IsWindows ? "dotnet.exe" : "dotnet") : Path.GetFileName(CliPath ?? "modelc");

        protected override Encoding ResponseFileEncoding => Utf8NoBom;

        // Diagnostics are mapped one by one; the rest (progress) is detail.
        protected override MessageImportance StandardErrorLoggingImportance => MessageImportance.Low;

        protected override MessageImportance StandardOutputLoggingImportance => MessageImportance.Low;

        public override bool Execute()
        {
            base.UseCommandProcessor = false;
            _progress = new StageProgress();
            var reportBefore = LastWrite(Report);
            var ok = base.Execute() && !Log.HasLoggedErrors;

            // Only a report this run wrote: not one left by an earlier run when modelc did not start.
            var reportAfter = LastWrite(Report);
            if (reportAfter != null && reportAfter != reportBefore)
            {
                WrittenReport = Report;

                // After a failure the report says why: show it where a failing build's output is read.
                Log.LogMessage(ok ? MessageImportance.Normal : MessageImportance.High,
                    "ModelCompiler: {0} report: {1}", ModelName, Report);
                LogSummary();
            }

            return ok;
        }

        /// <summary>modelc's arguments after the program: the subcommand and its options, one per element.</summary>
        internal IReadOnlyList<string> BuildArguments()
        {
            var args = new List<string>
            {
                "compile",
                "--model", Model,
                "--spec", Spec ?? "",
                "--output", OutputModel,
                "--manifest", Manifest,
                "--report", Report,
            };
            if (!string.IsNullOrEmpty(DependencyFile))
            {
                args.Add("--deps");
                args.Add(DependencyFile!);
            }

            if (!string.IsNullOrEmpty(OrtNativePath))
            {
                args.Add("--ort-native");
                args.Add(OrtNativePath!);
            }

            if (GatesAsWarnings)
            {
                args.Add("--gates-as-warnings");
            }

            if (Verbose)
            {
                args.Add("--verbose");
            }

            return args;
        }

        /// <summary>The whole command as a person would type it (the response file expanded).</summary>
        internal IReadOnlyList<string> BuildDisplayCommand()
        {
            var command = new List<string> { GenerateFullPathToTool() };
            if (IsManagedCli)
            {
                command.Add(CliPath!);
            }

            command.AddRange(BuildArguments());
            return command;
        }

        protected override bool ValidateParameters()
        {
            if (string.IsNullOrWhiteSpace(Spec))
            {
                LogItemError(TaskCodes.MissingSpecMetadata,
                    $"QuantizedModel '{Model}' has no Spec metadata: add Spec=\"path/to/model.quant.yaml\" to the item.");
            }
            else if (!File.Exists(Spec))
            {
                LogItemError(TaskCodes.SpecNotFound,
                    $"the spec '{Spec}' of QuantizedModel '{Model}' does not exist: check the item's Spec metadata (relative paths are relative to the project).");
            }

            if (!File.Exists(Model))
            {
                LogItemError(TaskCodes.ModelNotFound,
                    $"the model '{Model}' of a QuantizedModel item does not exist: check the item's Include (relative paths are relative to the project).");
            }

            if (string.IsNullOrWhiteSpace(CliPath) || !File.Exists(CliPath))
            {
                LogItemError(TaskCodes.CliNotFound,
                    $"modelc was not found at '{CliPath}': restore the ModelCompiler package, or set ModelCompiler_CliPath to modelc.dll or the modelc executable.");
            }
            else if (IsManagedCli && ResolveDotNetHost() == null)
            {
                LogItemError(TaskCodes.DotNetHostNotFound,
                    $"no dotnet host was found to run '{CliPath}': put dotnet on the PATH, or set ModelCompiler_CliPath to the modelc executable.");
            }

            if (!string.IsNullOrEmpty(OrtNativePath) && !File.Exists(OrtNativePath))
            {
                LogItemError(TaskCodes.OrtNativeNotFound,
                    $"ModelCompiler_OrtNativePath names '{OrtNativePath}', which does not exist: point it at a CUDA-enabled onnxruntime native library of the same version as modelc's, or leave it empty.");
            }

            foreach (var argument in BuildArguments().Where(a => !CommandLineText.CanWriteToResponseFile(a)))
            {
                LogItemError(TaskCodes.UnquotableArgument,
                    $"the path '{argument}' holds a double quote, which modelc's response file cannot carry: rename the file or folder.");
            }

            return !Log.HasLoggedErrors && base.ValidateParameters();
        }

        protected override string GenerateFullPathToTool() =>
            IsManagedCli ? ResolveDotNetHost() ?? ToolName : Path.GetFullPath(CliPath!);

        protected override string GenerateCommandLineCommands()
        {
            var builder = new CommandLineBuilder();
            if (IsManagedCli)
            {
                builder.AppendFileNameIfNotNull(CliPath);
            }

            return builder.ToString();
        }

        protected override string GenerateResponseFileCommands() => CommandLineText.ToResponseFile(BuildArguments());

        // The base class logs the response file's lines; log the expanded command instead, ready to paste into a shell.
        protected override void LogToolCommand(string message) =>
            base.LogToolCommand(CommandLineText.ToDisplay(BuildDisplayCommand(), IsWindows));

        protected override void LogEventsFromTextOutput(string singleLine, MessageImportance messageImportance)
        {
            var diagnostic = DiagnosticLine.TryParse(singleLine);
            if (diagnostic == null)
            {
                // A long run shows its stage (throttled) where a plain `dotnet build` prints; the rest is detail.
                var show = _progress?.ShouldShow(singleLine) == true;
                Log.LogMessage(show ? MessageImportance.High : MessageImportance.Low, show ? "ModelCompiler: {0}: {1}" : "{1}", ModelName, singleLine);
                return;
            }

            if (diagnostic.IsError && !(GatesAsWarnings && diagnostic.IsGate))
            {
                Log.LogError(diagnostic.Subcategory, diagnostic.Code, null, diagnostic.File,
                    diagnostic.Line, diagnostic.Column, diagnostic.EndLine, diagnostic.EndColumn, "{0}", diagnostic.Message);
            }
            else
            {
                Log.LogWarning(diagnostic.Subcategory, diagnostic.Code, null, diagnostic.File,
                    diagnostic.Line, diagnostic.Column, diagnostic.EndLine, diagnostic.EndColumn, "{0}", diagnostic.Message);
            }
        }

        protected override bool HandleTaskExecutionErrors()
        {
            if (ExitCode == ExitGateFailed && GatesAsWarnings)
            {
                Log.LogMessage(MessageImportance.Normal,
                    "ModelCompiler: {0} missed a gate; ModelCompiler_GatesAsWarnings is true, so the build goes on.", ModelName);
                return true;
            }

            if (!Log.HasLoggedErrors)
            {
                LogItemError(TaskCodes.CliFailedSilently,
                    $"modelc failed with exit code {ExitCode} ({DescribeExitCode(ExitCode)}) without reporting an error: run the command line logged above (dotnet build -v:n shows it) to see its output.");
            }

            return false;
        }

        private StageProgress? _progress;

        // One line per model at the importance a plain `dotnet build` shows (High: its default verbosity is minimal),
        // and the report appended to the summary file.
        private void LogSummary()
        {
            var line = BuildSummary.FromManifest(Manifest, Model, Report,
                string.IsNullOrEmpty(ProjectFile) ? null : Path.GetDirectoryName(ProjectFile));
            if (line != null)
            {
                Log.LogMessage(MessageImportance.High, "{0}", line);
            }

            if (!string.IsNullOrEmpty(SummaryFile))
            {
                try
                {
                    var directory = Path.GetDirectoryName(Path.GetFullPath(SummaryFile));
                    if (!string.IsNullOrEmpty(directory))
                    {
                        Directory.CreateDirectory(directory);
                    }

                    File.AppendAllText(SummaryFile, File.ReadAllText(Report).TrimEnd() + "\n\n", Utf8NoBom);
                }
                catch (Exception e) when (e is IOException || e is UnauthorizedAccessException || e is ArgumentException || e is NotSupportedException)
                {
                    Log.LogWarning(null, TaskCodes.SummaryFileNotWritten, null, ProjectFile, 0, 0, 0, 0,
                        "the report could not be appended to ModelCompiler_SummaryFile '{0}': {1}", SummaryFile, e.Message);
                }
            }
        }

        private static DateTime? LastWrite(string path) => File.Exists(path) ? File.GetLastWriteTimeUtc(path) : (DateTime?)null;

        internal static string DescribeExitCode(int exitCode)
        {
            switch (exitCode)
            {
                case 1: return "a quality gate was missed";
                case 2: return "bad input";
                case 3: return "runtime failure";
                default: return "unexpected exit code";
            }
        }

        private string ModelName => string.IsNullOrEmpty(DisplayName) ? Path.GetFileNameWithoutExtension(Model) : DisplayName!;

        // Errors about the item point at the project that declares it.
        private void LogItemError(string code, string message) =>
            Log.LogError(null, code, null, string.IsNullOrEmpty(ProjectFile) ? null : ProjectFile, 0, 0, 0, 0, "{0}", message);

        private string? ResolveDotNetHost()
        {
            foreach (var candidate in new[] { DotNetHostPath, Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") })
            {
                if (!string.IsNullOrEmpty(candidate) && File.Exists(candidate))
                {
                    return Path.GetFullPath(candidate);
                }
            }

            var exe = IsWindows ? "dotnet.exe" : "dotnet";
            var path = Environment.GetEnvironmentVariable("PATH") ?? "";
            foreach (var dir in path.Split(new[] { Path.PathSeparator }, StringSplitOptions.RemoveEmptyEntries))
            {
                try
                {
                    var full = Path.Combine(dir.Trim(), exe);
                    if (File.Exists(full))
                    {
                        return full;
                    }
                }
                catch (ArgumentException)
                {
                    // A malformed PATH entry: skip it.
                }
            }

            return null;
        }
    }
}

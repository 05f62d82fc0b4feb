using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;
using ModelCompiler.Generator.Emitting;
using ModelCompiler.Generator.Model;
using ModelCompiler.Generator.Parsing;

namespace ModelCompiler.Generator
{
    /// <summary>
    /// Turns each ModelCompiler manifest (an AdditionalFiles item with <c>ModelCompilerManifest="true"</c>)
    /// into a strongly typed ONNX Runtime wrapper class.
    /// Pipeline: item metadata → parsed, equatable <see cref="ManifestResult"/> → C# source → one output that
    /// reports diagnostics and adds the sources, once it knows the compilation references ONNX Runtime.
    /// </summary>
    [Generator(LanguageNames.CSharp)]
    public sealed class ManifestGenerator : IIncrementalGenerator
    {
        private const string InferenceSessionType = "Microsoft.ML.OnnxRuntime.InferenceSession";
        private const string TokenGeneratorType = "ModelCompiler.Runtime.TokenGenerator";

        /// <summary>Names of the tracked pipeline steps, for incremental-caching tests.</summary>
        public static class TrackingNames
        {
            /// <summary>AdditionalFiles items marked as manifests, with their metadata.</summary>
            public const string ManifestFiles = "ModelCompiler.ManifestFiles";

            /// <summary>Parsed manifests (model or diagnostics).</summary>
            public const string Manifests = "ModelCompiler.Manifests";

            /// <summary>Generated source per manifest.</summary>
            public const string Sources = "ModelCompiler.Sources";

            /// <summary>Whether the compilation references ONNX Runtime.</summary>
            public const string OnnxRuntimeReference = "ModelCompiler.OnnxRuntimeReference";

            /// <summary>Whether the compilation references ModelCompiler.Runtime.</summary>
            public const string RuntimeReference = "ModelCompiler.RuntimeReference";

            /// <summary>All manifests together with the ONNX Runtime check.</summary>
            public const string All = "ModelCompiler.All";
        }

        /// <inheritdoc/>
        public void Initialize(IncrementalGeneratorInitializationContext context)
        {
            var manifestFiles = context.AdditionalTextsProvider
                .Combine(context.AnalyzerConfigOptionsProvider)
                .Select(static (pair, _) => new ManifestFile(
                    pair.Left,
                    ManifestOptions.Read(pair.Right.GetOptions(pair.Left), pair.Right.GlobalOptions)))
                .Where(static file => file.Options.IsManifest)
                .WithTrackingName(TrackingNames.ManifestFiles);

            var manifests = manifestFiles
                .Select(static (file, cancellationToken) => ManifestParser.Parse(
                    file.Text.Path,
                    file.Text.GetText(cancellationToken)?.ToString(),
                    file.Options,
                    cancellationToken))
                .WithTrackingName(TrackingNames.Manifests);

            // Generation members need the runtime library; without it the wrapper still runs the model once (MC4007).
            var hasRuntime = context.CompilationProvider
                .Select(static (compilation, _) => !compilation.GetTypesByMetadataName(TokenGeneratorType).IsEmpty)
                .WithTrackingName(TrackingNames.RuntimeReference);

            var sources = manifests
                .Combine(hasRuntime)
                .Select(static (pair, _) => new GeneratedWrapper(
                    pair.Left,
                    pair.Left.Model is null ? null : WrapperEmitter.Emit(pair.Left.Model, pair.Right),
                    !pair.Right && pair.Left.Model?.Decoder?.Greedy != null))
                .WithTrackingName(TrackingNames.Sources);

            var hasOnnxRuntime = context.CompilationProvider
                .Select(static (compilation, _) => !compilation.GetTypesByMetadataName(InferenceSessionType).IsEmpty)
                .WithTrackingName(TrackingNames.OnnxRuntimeReference);

            var all = sources.Collect()
                .Combine(hasOnnxRuntime)
                .WithTrackingName(TrackingNames.All);

            context.RegisterSourceOutput(all, static (spc, input) => Execute(spc, input.Left, input.Right));
        }

        private static void Execute(SourceProductionContext context, ImmutableArray<GeneratedWrapper> wrappers, bool hasOnnxRuntime)
        {
            if (wrappers.IsEmpty)
            {
                return;
            }

            foreach (var wrapper in wrappers)
            {
                foreach (var diagnostic in wrapper.Result.Diagnostics)
                {
                    context.ReportDiagnostic(diagnostic.ToDiagnostic());
                }
            }

            if (!hasOnnxRuntime)
            {
                // Once for the project, not once per manifest: the fix is one PackageReference.
                context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.OnnxRuntimeMissing, Location.None));
                return;
            }

            // Hint names are compared case-insensitively; the type names they come from must be unique too.
            var generatedBy = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var wrapper in wrappers)
            {
                var model = wrapper.Result.Model;
                if (model is null || wrapper.Source is null)
                {
                    continue;
                }

                if (generatedBy.TryGetValue(model.FullTypeName, out var firstManifest))
                {
                    context.ReportDiagnostic(DiagnosticInfo.AtFile(
                        DiagnosticDescriptors.DuplicateType,
                        wrapper.Result.FilePath,
                        model.ManifestFileName,
                        model.FullTypeName,
                        firstManifest).ToDiagnostic());
                    continue;
                }

                if (wrapper.NeedsRuntime)
                {
                    context.ReportDiagnostic(DiagnosticInfo.AtFile(
                        DiagnosticDescriptors.RuntimeMissing,
                        wrapper.Result.FilePath,
                        model.ManifestFileName).ToDiagnostic());
                }

                generatedBy.Add(model.FullTypeName, wrapper.Result.FilePath);
                context.AddSource(model.HintName, SourceText.From(wrapper.Source, Encoding.UTF8));
            }
        }

        /// <summary>An AdditionalFiles item and its metadata; the text is compared by reference, as Roslyn hands out the same instance while the file is unchanged.</summary>
        private sealed record ManifestFile(AdditionalText Text, ManifestOptions Options);
    }
}

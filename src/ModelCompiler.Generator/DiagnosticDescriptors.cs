using System;
using Microsoft.CodeAnalysis;

namespace ModelCompiler.Generator
{
    /// <summary>The generator's rules (MC4xxx). Every message names the manifest and says what to do.</summary>
    internal static class DiagnosticDescriptors
    {
        private const string Category = "ModelCompiler";

        public static readonly DiagnosticDescriptor ManifestUnreadable = new DiagnosticDescriptor(
            id: "MC4001",
            title: "Model manifest cannot be read",
            messageFormat: "Model manifest '{0}' cannot be read. {1} Fix the file, or delete it and rebuild so that modelc writes it again.",
            category: Category,
            defaultSeverity: DiagnosticSeverity.Error,
            isEnabledByDefault: true);

        public static readonly DiagnosticDescriptor ManifestInvalid = new DiagnosticDescriptor(
            id: "MC4002",
            title: "Model manifest is incomplete or has an unsupported format",
            messageFormat: "Model manifest '{0}': {1}",
            category: Category,
            defaultSeverity: DiagnosticSeverity.Error,
            isEnabledByDefault: true);

        public static readonly DiagnosticDescriptor OnnxRuntimeMissing = new DiagnosticDescriptor(
            id: "MC4003",
            title: "Microsoft.ML.OnnxRuntime is not referenced",
            messageFormat: "The generated model wrappers need ONNX Runtime, but type 'Microsoft.ML.OnnxRuntime.InferenceSession' is not referenced. Add a PackageReference to Microsoft.ML.OnnxRuntime (CPU) or another ONNX Runtime package.",
            category: Category,
            defaultSeverity: DiagnosticSeverity.Error,
            isEnabledByDefault: true);

        public static readonly DiagnosticDescriptor InvalidMetadata = new DiagnosticDescriptor(
            id: "MC4004",
            title: "Invalid model item metadata",
            messageFormat: "Model manifest '{0}': {1}. Fix the metadata of its item in the project file.",
            category: Category,
            defaultSeverity: DiagnosticSeverity.Error,
            isEnabledByDefault: true);

        public static readonly DiagnosticDescriptor GreedyGenerationOmitted = new DiagnosticDescriptor(
            id: "MC4005",
            title: "Decoder model does not fit greedy generation",
            messageFormat: "Model manifest '{0}' describes a decoder, but {1}; GenerateGreedy is not generated",
            category: Category,
            defaultSeverity: DiagnosticSeverity.Warning,
            isEnabledByDefault: true);

        public static readonly DiagnosticDescriptor DuplicateType = new DiagnosticDescriptor(
            id: "MC4006",
            title: "Two model manifests generate the same type",
            messageFormat: "Model manifest '{0}' would generate type '{1}', which manifest '{2}' already generates. Give one of the items another ClassName or Namespace.",
            category: Category,
            defaultSeverity: DiagnosticSeverity.Error,
            isEnabledByDefault: true);

        public static readonly DiagnosticDescriptor RuntimeMissing = new DiagnosticDescriptor(
            id: "MC4007",
            title: "ModelCompiler.Runtime is not referenced",
            messageFormat: "Model manifest '{0}' describes a decoder, but the project does not reference ModelCompiler.Runtime; GenerateGreedy and GenerateAsync are not generated. Add <PackageReference Include=\"ModelCompiler.Runtime\" />.",
            category: Category,
            defaultSeverity: DiagnosticSeverity.Warning,
            isEnabledByDefault: true);

        public static DiagnosticDescriptor ById(string id) => id switch
        {
            "MC4001" => ManifestUnreadable,
            "MC4002" => ManifestInvalid,
            "MC4003" => OnnxRuntimeMissing,
            "MC4004" => InvalidMetadata,
            "MC4005" => GreedyGenerationOmitted,
            "MC4006" => DuplicateType,
            "MC4007" => RuntimeMissing,
            _ => throw new ArgumentOutOfRangeException(nameof(id), id, "Unknown diagnostic id."),
        };
    }
}

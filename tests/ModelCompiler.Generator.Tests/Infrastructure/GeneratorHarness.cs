using System.Collections.Immutable;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.ML.OnnxRuntime;

namespace ModelCompiler.Generator.Tests.Infrastructure;

/// <summary>What one generator run produced.</summary>
internal sealed record GeneratorOutcome(
    GeneratorDriver Driver,
    GeneratorRunResult Result,
    Compilation OutputCompilation,
    ImmutableArray<Diagnostic> GeneratorDiagnostics)
{
    public ImmutableDictionary<string, string> Sources => Result.GeneratedSources
        .ToImmutableDictionary(s => s.HintName, s => s.SourceText.ToString());

    /// <summary>Errors and warnings of the compilation including the generated code (warnings count as errors).</summary>
    public ImmutableArray<Diagnostic> CompilationProblems => OutputCompilation.GetDiagnostics()
        .Where(d => d.Severity >= DiagnosticSeverity.Warning)
        .ToImmutableArray();
}

/// <summary>Runs <see cref="ManifestGenerator"/> the way the compiler does, on in-memory inputs.</summary>
internal static class GeneratorHarness
{
    private static readonly Lazy<ImmutableArray<MetadataReference>> s_frameworkReferences = new(() =>
    {
        // The running framework's assemblies: what a net10.0 consumer compiles against.
        string frameworkDir = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var tpa = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        return tpa
            .Where(p => string.Equals(Path.GetDirectoryName(p), frameworkDir, StringComparison.Ordinal))
            .Where(p => p.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
            .OrderBy(p => p, StringComparer.Ordinal)
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .ToImmutableArray();
    });

    private static readonly Lazy<ImmutableArray<MetadataReference>> s_onnxRuntimeReferences = new(() =>
    [
        MetadataReference.CreateFromFile(typeof(InferenceSession).Assembly.Location),
        MetadataReference.CreateFromFile(typeof(System.Numerics.Tensors.TensorPrimitives).Assembly.Location),
    ]);

    private static readonly Lazy<MetadataReference> s_runtimeReference = new(() =>
        MetadataReference.CreateFromFile(typeof(ModelCompiler.Runtime.TokenGenerator).Assembly.Location));

    public static CSharpParseOptions ParseOptions(LanguageVersion version = LanguageVersion.Latest)
        => new(version, DocumentationMode.Diagnose);

    /// <summary>A library compilation as strict as the repository's: nullable on, all warnings as errors, XML docs checked.</summary>
    public static CSharpCompilation CreateCompilation(
        IEnumerable<string> sources,
        bool referenceOnnxRuntime = true,
        LanguageVersion version = LanguageVersion.Latest,
        string assemblyName = "Consumer",
        bool referenceRuntime = true)
    {
        var parseOptions = ParseOptions(version);
        var trees = sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, parseOptions, path: $"/project/User{i}.cs"));
        var references = s_frameworkReferences.Value;
        if (referenceOnnxRuntime)
        {
            references = references.AddRange(s_onnxRuntimeReferences.Value);
        }

        if (referenceOnnxRuntime && referenceRuntime)
        {
            references = references.Add(s_runtimeReference.Value);
        }

        var options = new CSharpCompilationOptions(
            OutputKind.DynamicallyLinkedLibrary,
            nullableContextOptions: NullableContextOptions.Enable,
            generalDiagnosticOption: ReportDiagnostic.Error,
            warningLevel: 9999,
            deterministic: true);
        return CSharpCompilation.Create(assemblyName, trees, references, options);
    }

    public static GeneratorDriver CreateDriver(IEnumerable<TestManifest> manifests, string? rootNamespace = "MyApp", LanguageVersion version = LanguageVersion.Latest)
    {
        var list = manifests.ToList();
        var globals = new Dictionary<string, string>();
        if (rootNamespace is not null)
        {
            globals["build_property.RootNamespace"] = rootNamespace;
        }

        var provider = new TestOptionsProvider(
            list.ToDictionary(m => m.Path, m => m.ToOptions()),
            new DictionaryConfigOptions(globals));
        return CSharpGeneratorDriver.Create(
            generators: [new ManifestGenerator().AsSourceGenerator()],
            additionalTexts: list.Select(m => (AdditionalText)m.AdditionalText),
            parseOptions: ParseOptions(version),
            optionsProvider: provider,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));
    }

    public static GeneratorOutcome Run(GeneratorDriver driver, Compilation compilation)
    {
        driver = driver.RunGeneratorsAndUpdateCompilation(compilation, out var output, out var diagnostics);
        var result = driver.GetRunResult().Results.Single();
        Assert.Null(result.Exception);
        return new GeneratorOutcome(driver, result, output, diagnostics);
    }

    public static GeneratorOutcome Run(
        IEnumerable<TestManifest> manifests,
        IEnumerable<string>? userSources = null,
        bool referenceOnnxRuntime = true,
        string? rootNamespace = "MyApp",
        LanguageVersion version = LanguageVersion.Latest)
    {
        var compilation = CreateCompilation(userSources ?? [], referenceOnnxRuntime, version);
        return Run(CreateDriver(manifests, rootNamespace, version), compilation);
    }

    public static string Format(IEnumerable<Diagnostic> diagnostics)
        => string.Join(Environment.NewLine, diagnostics.Select(d => d.ToString()));

    /// <summary>Emits the compilation and loads it into a collectible context; ONNX Runtime resolves from the test's own context.</summary>
    public static Assembly EmitAndLoad(Compilation compilation)
    {
        using var stream = new MemoryStream();
        var emit = compilation.Emit(stream);
        Assert.True(emit.Success, Format(emit.Diagnostics));
        stream.Position = 0;
        var context = new System.Runtime.Loader.AssemblyLoadContext("generated-" + Guid.NewGuid().ToString("N"), isCollectible: true);
        return context.LoadFromStream(stream);
    }
}

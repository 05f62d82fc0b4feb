using System.Reflection;
using ModelCompiler.Tests;

namespace ModelCompiler.Integration.Tests;

/// <summary>
/// Shared by every integration test (one collection, run in order): the ModelCompiler package packed once into a
/// temporary feed, and one consumer app restored from it into its own packages folder (so a package cached by an
/// earlier run is never used) with two QuantizedModel items imported from the shared stories260K checkpoint.
/// </summary>
public sealed class PackagedConsumer : IDisposable
{
    private static readonly TimeSpan PackTimeout = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(5);

    private readonly Lazy<string> _consumer;

    public PackagedConsumer()
    {
        Root = TestPaths.NewTempDir("mc-integration");
        Feed = Path.Combine(Root, "feed");
        // A space in the path, as in many home folders: every path on modelc's command line must survive quoting.
        Dir = Path.Combine(Root, "consumer app");
        Packages = Path.Combine(Dir, "packages");

        var configuration = typeof(PackagedConsumer).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .First(a => a.Key == "Configuration").Value!;
        var package = Path.Combine(TestPaths.RepoRoot, "src", "ModelCompiler.Package", "ModelCompiler.Package.csproj");
        Pack = DotNetCli.Run(TestPaths.RepoRoot, ["pack", package, "-c", configuration, "-o", Feed, "-tl:off", "-nodeReuse:false"], PackTimeout);
        if (!Pack.Succeeded)
        {
            throw new InvalidOperationException("dotnet pack of the ModelCompiler package failed:\n" + Pack);
        }

        // The generated decoders' runtime library: a package of its own beside the build package (Grpc.Tools and
        // Google.Protobuf style), with the same version.
        var runtime = Path.Combine(TestPaths.RepoRoot, "src", "ModelCompiler.Runtime", "ModelCompiler.Runtime.csproj");
        var packRuntime = DotNetCli.Run(TestPaths.RepoRoot, ["pack", runtime, "-c", configuration, "-o", Feed, "-tl:off", "-nodeReuse:false"], PackTimeout);
        if (!packRuntime.Succeeded)
        {
            throw new InvalidOperationException("dotnet pack of ModelCompiler.Runtime failed:\n" + packRuntime);
        }

        // The version comes from git (MinVer): read it from the build package's name (ModelCompiler.<digit>…).
        Nupkg = Directory.GetFiles(Feed, "ModelCompiler.*.nupkg").Single(f => char.IsDigit(Path.GetFileName(f)["ModelCompiler.".Length]));
        Version = Path.GetFileNameWithoutExtension(Nupkg)["ModelCompiler.".Length..];
        _consumer = new Lazy<string>(CreateConsumer);
    }

    public string Root { get; }
    public string Feed { get; }
    public string Nupkg { get; }

    /// <summary>The packed version (from git: MinVer).</summary>
    public string Version { get; }
    public CommandResult Pack { get; }

    /// <summary>The consumer project's folder (created, restored and with models imported on first use).</summary>
    public string Dir { get; }
    public string Packages { get; }
    public string Modelc => Path.Combine(Packages, "modelcompiler", Version, "tools", "modelc", "modelc.dll");

    /// <summary>The two models: StoryModel (class name given) and tiny-story (class name by default: TinyStory).</summary>
    public static readonly string[] Stems = ["stories260K", "tiny-story"];

    public string Spec(string stem) => Path.Combine(Dir, "models", stem + ".quant.yaml");
    public string EvaluationText(string stem) => Path.Combine(Dir, "data", stem + ".evaluation.txt");
    public string ItemDir(string stem) => Path.Combine(Dir, "obj", "Debug", "net10.0", "modelcompiler", stem);
    public string QuantizedModel(string stem) => Path.Combine(ItemDir(stem), stem + ".q.onnx");
    public string Manifest(string stem) => Path.Combine(ItemDir(stem), stem + ".manifest.json");
    public string Report(string stem) => Path.Combine(ItemDir(stem), stem + ".report.md");
    public string Stamp(string stem) => Path.Combine(ItemDir(stem), "modelc.stamp");
    public string OutputDir => Path.Combine(Dir, "bin", "Debug", "net10.0");
    public string CopiedModel(string stem) => Path.Combine(OutputDir, "models", stem + ".q.onnx");
    public string EditorConfig => Path.Combine(Dir, "obj", "Debug", "net10.0", "Consumer.GeneratedMSBuildEditorConfig.editorconfig");

    /// <summary>Creates the consumer (restored, models imported) if no test did yet; returns its folder.</summary>
    public string EnsureCreated() => _consumer.Value;

    /// <summary>The first successful build, made when a test first asks for it.</summary>
    public CommandResult FirstBuild => _firstBuild ??= EnsureConsumer(() => Build());
    private CommandResult? _firstBuild;

    /// <summary>`dotnet build` at normal verbosity (which shows modelc's command line when it runs).</summary>
    public CommandResult Build(params string[] extra) =>
        EnsureConsumer(() => DotNetCli.Run(Dir, ["build", "-tl:off", "-nodeReuse:false", "-v:n", .. extra], BuildTimeout));

    /// <summary>`dotnet publish --no-build`: the targets must still find the quantized files to publish.</summary>
    public CommandResult Publish(string outputDir) =>
        EnsureConsumer(() => DotNetCli.Run(Dir, ["publish", "--no-build", "-c", "Debug", "-tl:off", "-nodeReuse:false", "-v:n", "-o", outputDir], BuildTimeout));

    public CommandResult Clean() => EnsureConsumer(() => DotNetCli.Run(Dir, ["clean", "-tl:off", "-nodeReuse:false"], BuildTimeout));

    public CommandResult RunApp() => EnsureConsumer(() => DotNetCli.Run(Dir, [Path.Combine(OutputDir, "Consumer.dll")], BuildTimeout));

    /// <summary>A spec in the shape the tests use, with <paramref name="gates"/> as the gates section's body.</summary>
    public void WriteSpec(string stem, string gates = "max_perplexity_increase_pct: 2.0") => File.WriteAllText(Spec(stem), $"""
        # Quantization spec for {stem}: paths are relative to this file.
        target: cpu
        calibration:
          text: ../data/{stem}.calibration.txt
          context: 256
          max_tokens: 2048
        evaluation:
          text: ../data/{stem}.evaluation.txt
          context: 256
          max_tokens: 2048
        policy:
          kind: all-int8
        gates:
          {gates}

        """);

    private T EnsureConsumer<T>(Func<T> action)
    {
        _ = _consumer.Value;
        return action();
    }

    private string CreateConsumer()
    {
        Directory.CreateDirectory(Path.Combine(Dir, "models"));
        Directory.CreateDirectory(Path.Combine(Dir, "data"));
        File.WriteAllText(Path.Combine(Dir, "NuGet.config"), NuGetConfig());
        File.WriteAllText(Path.Combine(Dir, "Consumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <RootNamespace>Demo</RootNamespace>
                <RestorePackagesPath>{Packages}</RestorePackagesPath>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="ModelCompiler" Version="{Version}" />
                <PackageReference Include="ModelCompiler.Runtime" Version="{Version}" />
                <PackageReference Include="Microsoft.ML.OnnxRuntime" Version="1.31.1" />
              </ItemGroup>
              <ItemGroup>
                <QuantizedModel Include="models/stories260K.onnx" Spec="models/stories260K.quant.yaml" ClassName="StoryModel" Namespace="Demo" />
                <QuantizedModel Include="models/tiny-story.onnx" Spec="models/tiny-story.quant.yaml" />
              </ItemGroup>
            </Project>
            """);
        // Compiles only if the generator made both wrappers; prints whether the model was copied beside the app.
        File.WriteAllText(Path.Combine(Dir, "Program.cs"), """
            var model = Path.Combine(AppContext.BaseDirectory, "models", "stories260K.q.onnx");
            Console.WriteLine($"{typeof(Demo.StoryModel).FullName} {typeof(Demo.TinyStory).FullName} {File.Exists(model)}");
            using var m = new Demo.StoryModel();
            Console.WriteLine(string.Join(" ", m.GenerateGreedy(new long[] { 1 }, 20)));
            var streamed = new List<long>();
            await foreach (var id in m.GenerateAsync(new long[] { 1 }, 20))
            {
                streamed.Add(id);
            }

            Console.WriteLine(string.Join(" ", streamed));
            using var cts = new CancellationTokenSource();
            var before = new List<long>();
            try
            {
                await foreach (var id in m.GenerateAsync(new long[] { 1 }, 20, cancellationToken: cts.Token))
                {
                    before.Add(id);
                    if (before.Count == 5)
                    {
                        cts.Cancel();
                    }
                }

                Console.WriteLine($"{before.Count} not cancelled");
            }
            catch (OperationCanceledException)
            {
                Console.WriteLine($"{before.Count} cancelled");
            }

            // Text in and out through the tokenizer the manifest names (copied beside the model).
            var text = new System.Text.StringBuilder();
            await foreach (var piece in m.GenerateAsync("", 20))
            {
                text.Append(piece);
            }

            Console.WriteLine(text.ToString().Replace("\n", "\\n"));
            Console.WriteLine(m.Decode(m.GenerateGreedy(new long[] { 1 }, 20)).Replace("\n", "\\n"));
            Console.WriteLine(string.Join(" ", m.Encode("Once upon a time")));
            """);

        var restore = DotNetCli.Run(Dir, ["restore", "-tl:off", "-nodeReuse:false"], BuildTimeout);
        if (!restore.Succeeded)
        {
            throw new InvalidOperationException("restore of the consumer failed:\n" + restore);
        }

        // Calibration and evaluation texts: the two halves of the TinyStories excerpt, split between stories.
        var lines = File.ReadAllLines(TestPaths.TinyStoriesValid);
        var ends = Enumerable.Range(0, lines.Length).Where(i => lines[i] == "<|endoftext|>").ToArray();
        var middle = ends[ends.Length / 2];
        foreach (var stem in Stems)
        {
            File.WriteAllLines(Path.Combine(Dir, "data", stem + ".calibration.txt"), lines[..middle]);
            File.WriteAllLines(EvaluationText(stem), lines[(middle + 1)..]);
            WriteSpec(stem);

            var import = DotNetCli.Run(Dir,
                [Modelc, "import", "llama2c", TestPaths.Checkpoint, "--tokenizer", TestPaths.Tokenizer, "--output", Path.Combine(Dir, "models", stem + ".onnx")],
                BuildTimeout);
            if (!import.Succeeded)
            {
                throw new InvalidOperationException("modelc import llama2c (from the package) failed:\n" + import);
            }
        }

        return Dir;
    }

    // Only the temporary feed may provide ModelCompiler; everything else comes from the packages this machine
    // already has, else from nuget.org.
    public string NuGetConfig()
    {
        var globalPackages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p
            ? p
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var local = Directory.Exists(globalPackages);
        return $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="modelcompiler-under-test" value="{Feed}" />
                {(local ? $"<add key=\"machine-packages\" value=\"{globalPackages}\" />" : "")}
                <add key="nuget.org" value="https://api.nuget.org/v3/index.json" protocolVersion="3" />
              </packageSources>
              <packageSourceMapping>
                <packageSource key="modelcompiler-under-test"><package pattern="ModelCompiler" /><package pattern="ModelCompiler.Runtime" /></packageSource>
                {(local ? "<packageSource key=\"machine-packages\"><package pattern=\"*\" /></packageSource>" : "")}
                <packageSource key="nuget.org"><package pattern="*" /></packageSource>
              </packageSourceMapping>
            </configuration>
            """;
    }

    public void Dispose()
    {
        if (Environment.GetEnvironmentVariable("MODELCOMPILER_KEEP_TEST_DIRS") == "1")
        {
            return;
        }

        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // A temp folder: the OS cleans up what is left.
        }
    }
}

[CollectionDefinition(Name)]
public sealed class PackagedConsumerCollection : ICollectionFixture<PackagedConsumer>
{
    public const string Name = "packaged consumer";
}

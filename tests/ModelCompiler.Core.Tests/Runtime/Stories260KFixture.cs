using ModelCompiler.Evaluation;
using ModelCompiler.Import;
using ModelCompiler.Runtime;
using ModelCompiler.Tests.Import;
using ModelCompiler.Tokenization;

namespace ModelCompiler.Tests.Runtime;

/// <summary>stories260K imported once (with its tokenizer beside it), an ONNX Runtime session on it, and the reference model.</summary>
public sealed class Stories260KFixture : IDisposable
{
    public Stories260KFixture()
    {
        Directory = TestPaths.NewTempDir("mc-core");
        ModelPath = Path.Combine(Directory, "stories260K.onnx");
        Llama2cImporter.Import(TestPaths.Checkpoint, TestPaths.Tokenizer, ModelPath);
        Session = new DecoderSession(ModelPath);
        Tokenizer = ModelTokenizer.Load(Session, null);
        Reference = ReferenceLlama.Load(TestPaths.Checkpoint);
    }

    public string Directory { get; }
    public string ModelPath { get; }
    public DecoderSession Session { get; }
    public ITokenizer Tokenizer { get; }
    internal ReferenceLlama Reference { get; }

    /// <summary>The perplexity token stream of a corpus file (DESIGN.md §5), built by the code under test.</summary>
    public TokenStream Stream(string textPath, int? maxTokens = null) => TokenStream.Load(textPath, Tokenizer, maxTokens);

    public void Dispose()
    {
        Session.Dispose();
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}

[CollectionDefinition(Name)]
public sealed class Stories260KCollection : ICollectionFixture<Stories260KFixture>
{
    public const string Name = "stories260K";
}

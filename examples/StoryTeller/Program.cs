using System.Globalization;
using System.Text;
using StoryTeller;

// The typed wrapper StoryModel is generated at build time from the quantized model's manifest.
using var model = new StoryModel();
var tokens = model.GenerateGreedy([StoryModel.BosTokenId], maxNewTokens: 60);

// modelc stores the model's tokenizer beside it: <model>.tokenizer.bin.
var vocabulary = Llama2cVocabulary.Load(Path.ChangeExtension(StoryModel.ModelPath, null) + ".tokenizer.bin");
Console.WriteLine(vocabulary.Decode(tokens).TrimStart());
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"perplexity fp32 {StoryModel.CompileMetrics.Fp32Perplexity:F4} → quantized {StoryModel.CompileMetrics.QuantizedPerplexity:F4} ({StoryModel.CompileMetrics.PerplexityIncreasePct:+0.00;-0.00}%), INT8 {StoryModel.CompileMetrics.Int8Layers}/{StoryModel.CompileMetrics.Layers} layers ({StoryModel.CompileMetrics.Int8Fraction:P0} of weights), policy {StoryModel.CompileMetrics.Policy}"));
// The layers the policy kept out of INT8, and why (the report beside the manifest has the full evidence).
foreach (var kept in StoryModel.CompileMetrics.KeptLayers.Split("; ", StringSplitOptions.RemoveEmptyEntries))
    Console.WriteLine("  kept: " + kept);

/// <summary>Decoding half of the llama2.c tokenizer: token pieces, with "&lt;0xXX&gt;" byte tokens.</summary>
internal sealed class Llama2cVocabulary(byte[][] pieces)
{
    public static Llama2cVocabulary Load(string path)
    {
        using var reader = new BinaryReader(File.OpenRead(path));
        reader.ReadInt32(); // max token length
        var pieces = new List<byte[]>();
        while (reader.BaseStream.Position < reader.BaseStream.Length)
        {
            reader.ReadSingle(); // merge score
            pieces.Add(reader.ReadBytes(reader.ReadInt32()));
        }
        return new Llama2cVocabulary(pieces.ToArray());
    }

    public string Decode(IEnumerable<long> ids)
    {
        var bytes = new List<byte>();
        foreach (var id in ids)
        {
            var piece = pieces[id];
            var text = Encoding.ASCII.GetString(piece);
            if (piece.Length == 6 && text.StartsWith("<0x", StringComparison.Ordinal) && text.EndsWith('>'))
                bytes.Add(byte.Parse(text.AsSpan(3, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
            else
                bytes.AddRange(piece);
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }
}

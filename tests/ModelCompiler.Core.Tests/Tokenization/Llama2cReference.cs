using System.Text;

namespace ModelCompiler.Tests.Tokenization;

/// <summary>
/// A deliberately plain transcription of llama2.c's <c>encode</c> (run.c): its own file reader, strings for
/// tokens, and the quadratic "rescan every adjacent pair, merge the best, repeat" loop. Slow; only for checking
/// the real tokenizer against.
/// </summary>
internal sealed class Llama2cReference
{
    // Tokens as Latin-1 strings: one char per byte, so string concatenation is byte concatenation.
    private readonly List<string> _vocab = new();
    private readonly List<float> _scores = new();
    private readonly Dictionary<string, int> _lookup = new(StringComparer.Ordinal);

    public Llama2cReference(string path)
    {
        using var reader = new BinaryReader(File.OpenRead(path));
        reader.ReadInt32(); // max_token_length
        while (reader.BaseStream.Position < reader.BaseStream.Length)
        {
            _scores.Add(reader.ReadSingle());
            int len = reader.ReadInt32();
            var piece = Encoding.Latin1.GetString(reader.ReadBytes(len));
            _lookup.TryAdd(piece, _vocab.Count);
            _vocab.Add(piece);
        }
    }

    private int StrLookup(string s) => _lookup.TryGetValue(s, out int id) ? id : -1;

    public List<int> Encode(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var tokens = new List<int>();
        if (bytes.Length > 0) tokens.Add(StrLookup(" "));

        var buffer = new StringBuilder();
        for (int c = 0; c < bytes.Length; c++)
        {
            if ((bytes[c] & 0xC0) != 0x80) buffer.Clear();
            buffer.Append((char)bytes[c]);
            if (c + 1 < bytes.Length && (bytes[c + 1] & 0xC0) == 0x80 && buffer.Length < 4) continue;
            int id = StrLookup(buffer.ToString());
            if (id != -1) tokens.Add(id);
            else foreach (char b in buffer.ToString()) tokens.Add(b + 3);
            buffer.Clear();
        }

        while (true)
        {
            float bestScore = -1e10f;
            int bestId = -1, bestIdx = -1;
            for (int i = 0; i < tokens.Count - 1; i++)
            {
                int id = StrLookup(_vocab[tokens[i]] + _vocab[tokens[i + 1]]);
                if (id != -1 && _scores[id] > bestScore)
                {
                    bestScore = _scores[id];
                    bestId = id;
                    bestIdx = i;
                }
            }
            if (bestIdx == -1) break;
            tokens[bestIdx] = bestId;
            tokens.RemoveAt(bestIdx + 1);
        }
        return tokens;
    }
}

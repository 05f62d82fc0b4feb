using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace ModelCompiler.Tokenization;

/// <summary>
/// A Hugging Face <c>tokenizer.json</c> with a BPE model, in the two styles decoder LLMs publish: byte-level BPE
/// (GPT-2: <c>ByteLevel</c> pre-tokenizer and decoder) and SentencePiece-style BPE (LLaMA: <c>Prepend("▁")</c> +
/// <c>Replace(" ", "▁")</c> normalizer, <c>byte_fallback</c>). Merging is Microsoft.ML.Tokenizers'
/// <see cref="BpeTokenizer"/>; this class adds what it lacks: reading the pipeline from the JSON, splitting on
/// added tokens first (leftmost-longest, as Hugging Face does), byte fallback for characters outside the
/// vocabulary, and decoding to bytes for streaming.
/// </summary>
public sealed class HuggingFaceTokenizer : ITokenizer
{
    // GPT-2's pre-tokenizer regex, as in Hugging Face's ByteLevel pre-tokenizer (use_regex = true).
    private const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
    private const char SpaceMark = '\u2581';

    private readonly BpeTokenizer _bpe;
    private readonly bool _byteLevel;
    private readonly string[] _pieces;
    private readonly byte[][] _bytes;
    private readonly (string Content, int Id)[] _added; // longest first
    private readonly HashSet<int> _addedIds = new();
    private readonly int[] _byteIds; // byte fallback: id of <0xXX>, or -1
    private readonly int? _unkId;

    private HuggingFaceTokenizer(string path, string fingerprint, BpeTokenizer bpe, bool byteLevel, string[] pieces,
        (string, int)[] added, int[] byteIds, int? unkId, int? bos, int? eos)
    {
        SourcePath = path; Fingerprint = fingerprint; _bpe = bpe; _byteLevel = byteLevel; _pieces = pieces;
        _added = added; _byteIds = byteIds; _unkId = unkId; BosId = bos; EosId = eos;
        foreach (var (_, id) in added) _addedIds.Add(id);
        _bytes = new byte[pieces.Length][];
        for (int i = 0; i < pieces.Length; i++) _bytes[i] = PieceBytes(i);
    }

    /// <inheritdoc />
    public string Format => _byteLevel ? "tokenizer.json (byte-level BPE)" : "tokenizer.json (SentencePiece BPE)";
    /// <inheritdoc />
    public string SourcePath { get; }
    /// <inheritdoc />
    public string Fingerprint { get; }
    /// <inheritdoc />
    public int VocabularySize => _pieces.Length;
    /// <inheritdoc />
    public int? BosId { get; }
    /// <inheritdoc />
    public int? EosId { get; }

    /// <summary>Reads <paramref name="path"/>; MC1021 for malformed JSON, MC1023 for pipelines this class does not implement.</summary>
    public static HuggingFaceTokenizer Load(string path)
    {
        var (full, raw, fingerprint) = TokenizerFile.Read(path);
        try
        {
            using var doc = JsonDocument.Parse(raw);
            return FromJson(full, fingerprint, doc.RootElement);
        }
        catch (JsonException e)
        { throw Corrupt(full, $"not valid JSON: {e.Message}"); }
        catch (InvalidOperationException e)
        { throw Corrupt(full, $"unexpected JSON shape: {e.Message}"); }
        catch (KeyNotFoundException e)
        { throw Corrupt(full, $"missing entry: {e.Message}"); }
        catch (ArgumentException e)
        { throw Corrupt(full, e.Message); }
    }

    private static ModelCompilerException Corrupt(string path, string why) =>
        new(TokenizationErrors.TokenizerCorrupt, $"tokenizer.json is malformed: {why}", path);

    private static ModelCompilerException Unsupported(string path, string what) =>
        new(TokenizationErrors.TokenizerFormatNotSupported,
            $"tokenizer.json uses {what}, which is not supported; supported are BPE models with a ByteLevel pre-tokenizer (GPT-2 style) or a Prepend/Replace \"▁\" normalizer with byte_fallback (LLaMA style).", path);

    private static HuggingFaceTokenizer FromJson(string path, string fingerprint, JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
            throw Corrupt(path, "no \"model\" object.");
        var type = model.TryGetProperty("type", out var t) ? t.GetString() : "BPE";
        if (type != "BPE") throw Unsupported(path, $"a {type} model");

        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in model.GetProperty("vocab").EnumerateObject()) vocab[p.Name] = p.Value.GetInt32();
        var merges = new List<string>();
        foreach (var m in model.GetProperty("merges").EnumerateArray())
            merges.Add(m.ValueKind == JsonValueKind.Array ? m[0].GetString() + " " + m[1].GetString() : m.GetString()!);

        var added = new List<(string, int)>();
        if (root.TryGetProperty("added_tokens", out var at) && at.ValueKind == JsonValueKind.Array)
            foreach (var a in at.EnumerateArray()) added.Add((a.GetProperty("content").GetString()!, a.GetProperty("id").GetInt32()));

        bool byteLevel = IsType(root, "pre_tokenizer", "ByteLevel") || IsType(root, "decoder", "ByteLevel");
        bool byteFallback = model.TryGetProperty("byte_fallback", out var bf) && bf.ValueKind == JsonValueKind.True;
        if (!byteLevel)
        {
            if (root.TryGetProperty("pre_tokenizer", out var pt) && pt.ValueKind != JsonValueKind.Null)
                throw Unsupported(path, $"the pre-tokenizer {pt.GetProperty("type").GetString()}");
            if (!HasSpaceMarkNormalizer(root)) throw Unsupported(path, "a normalizer other than Prepend(\"▁\") + Replace(\" \", \"▁\")");
        }
        else if (root.TryGetProperty("normalizer", out var n) && n.ValueKind != JsonValueKind.Null)
            throw Unsupported(path, $"the normalizer {n.GetProperty("type").GetString()} with byte-level BPE");

        int size = 0;
        foreach (var id in vocab.Values) size = Math.Max(size, id + 1);
        foreach (var (_, id) in added) size = Math.Max(size, id + 1);
        var pieces = new string[size];
        foreach (var (k, id) in vocab) { if (id < 0) throw Corrupt(path, $"negative id {id}."); pieces[id] = k; }
        foreach (var (c, id) in added) { if (id < 0) throw Corrupt(path, $"negative id {id}."); pieces[id] = c; }
        for (int i = 0; i < size; i++) if (pieces[i] is null) throw Corrupt(path, $"id {i} has no token (ids must be contiguous).");

        string? unk = model.TryGetProperty("unk_token", out var u) && u.ValueKind == JsonValueKind.String ? u.GetString() : null;
        var options = new BpeOptions(vocab)
        {
            Merges = merges,
            ByteLevel = byteLevel,
            // Without a pre-tokenizer Hugging Face merges the whole segment as one word (BpeOptions' null would mean
            // whitespace splitting). Merging a long text as one word is quadratic, though (a 1.2 MB book took minutes),
            // so where no merge can cross a "▁" that follows another character it is cut into words there: the
            // merges on either side are then independent and the ids are exactly those of the whole-segment merge.
            PreTokenizer = new RegexPreTokenizer(new Regex(byteLevel ? Gpt2Pattern : MergesStopAtSpaceMark(vocab.Keys) ? SpaceMarkWords : @"(?s).+", RegexOptions.Compiled), null),
            UnknownToken = unk,
            FuseUnknownTokens = false,
        };
        BpeTokenizer bpe;
        try { bpe = BpeTokenizer.Create(options); }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException)
        { throw Corrupt(path, e.Message); }

        var byteIds = new int[256];
        for (int b = 0; b < 256; b++)
            byteIds[b] = byteFallback && vocab.TryGetValue($"<0x{b:X2}>", out var bid) ? bid : -1;
        int? unkId = unk is not null && vocab.TryGetValue(unk, out var uid) ? uid : null;

        var (bos, eos) = SpecialIds(vocab, added, byteLevel);
        var sortedAdded = added.Where(a => a.Item1.Length > 0).OrderByDescending(a => a.Item1.Length).ThenBy(a => a.Item2).ToArray();
        return new HuggingFaceTokenizer(path, fingerprint, bpe, byteLevel, pieces, sortedAdded, byteIds, unkId, bos, eos);
    }

    // A run of "▁" with the characters up to the next "▁", or characters before any "▁".
    private const string SpaceMarkWords = "\u2581+[^\u2581]*|[^\u2581]+";

    /// <summary>
    /// True when no token has a "▁" right after another character (as in LLaMA's SentencePiece vocabularies, where
    /// "▁" only begins a token or fills a run of spaces): a merge produces a token, so then no merge spans such a place.
    /// </summary>
    private static bool MergesStopAtSpaceMark(IEnumerable<string> tokens)
    {
        foreach (var t in tokens)
            for (int i = 1; i < t.Length; i++)
                if (t[i] == SpaceMark && t[i - 1] != SpaceMark) return false;
        return true;
    }

    private static bool IsType(JsonElement root, string name, string type) =>
        root.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.Object
        && e.TryGetProperty("type", out var t) && t.GetString() == type;

    private static bool HasSpaceMarkNormalizer(JsonElement root)
    {
        if (!root.TryGetProperty("normalizer", out var n) || n.ValueKind != JsonValueKind.Object) return false;
        var steps = n.GetProperty("type").GetString() == "Sequence" ? n.GetProperty("normalizers").EnumerateArray().ToList() : [n];
        bool prepend = false, replace = false;
        foreach (var s in steps)
        {
            switch (s.GetProperty("type").GetString())
            {
                case "Prepend" when s.GetProperty("prepend").GetString() == "\u2581": prepend = true; break;
                case "Replace" when s.GetProperty("pattern").TryGetProperty("String", out var p) && p.GetString() == " "
                                    && s.GetProperty("content").GetString() == "\u2581": replace = true; break;
                default: return false;
            }
        }
        return prepend && replace;
    }

    private static (int?, int?) SpecialIds(Dictionary<string, int> vocab, List<(string, int)> added, bool byteLevel)
    {
        int? Find(params string[] names)
        {
            foreach (var name in names)
            {
                foreach (var (c, id) in added) if (c == name) return id;
                if (vocab.TryGetValue(name, out var v)) return v;
            }
            return null;
        }
        return byteLevel ? (Find("<|endoftext|>"), Find("<|endoftext|>")) : (Find("<s>"), Find("</s>"));
    }

    /// <inheritdoc />
    public IReadOnlyList<int> Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>();
        int start = 0;
        while (start < text.Length)
        {
            var (at, token, id) = NextAdded(text, start);
            if (at > start) EncodeSegment(text.Substring(start, at - start), ids);
            if (token is null) break;
            ids.Add(id);
            start = at + token.Length;
        }
        return ids;
    }

    // Leftmost match; at one position, the longest added token.
    private (int At, string? Token, int Id) NextAdded(string text, int from)
    {
        int best = text.Length; string? token = null; int id = -1;
        foreach (var (c, i) in _added)
        {
            int end = Math.Min(text.Length, best + c.Length);
            int at = end - from >= c.Length ? text.IndexOf(c, from, end - from, StringComparison.Ordinal) : -1;
            if (at >= 0 && (at < best || (at == best && token is not null && c.Length > token.Length)))
            { best = at; token = c; id = i; }
        }
        return (best, token, id);
    }

    private void EncodeSegment(string segment, List<int> ids)
    {
        if (_byteLevel) { ids.AddRange(_bpe.EncodeToIds(segment)); return; }
        var normalized = SpaceMark + segment.Replace(' ', SpaceMark);
        foreach (var token in _bpe.EncodeToTokens(normalized, out _))
        {
            if (_unkId is int unk && token.Id == unk)
            {
                var (offset, length) = token.Offset.GetOffsetAndLength(normalized.Length);
                var source = normalized.Substring(offset, length);
                var bytes = Encoding.UTF8.GetBytes(source);
                if (source != _pieces[unk] && bytes.All(b => _byteIds[b] >= 0)) { foreach (var b in bytes) ids.Add(_byteIds[b]); continue; }
            }
            ids.Add(token.Id);
        }
    }

    /// <inheritdoc />
    public string Decode(ReadOnlySpan<int> ids)
    {
        var buffer = new List<byte>();
        int previous = -1;
        foreach (var id in ids) { buffer.AddRange(DecodeTokenBytes(previous, id).ToArray()); previous = id; }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <inheritdoc />
    public ReadOnlySpan<byte> DecodeTokenBytes(int previous, int id)
    {
        if ((uint)id >= (uint)_bytes.Length) throw new ArgumentOutOfRangeException(nameof(id), id, "token id outside the vocabulary.");
        var bytes = _bytes[id];
        // SentencePiece style: the dummy prefix "▁" of the first token is not text (decoder Strip(" ", 1, 0)).
        if (!_byteLevel && previous < 0 && bytes.Length > 0 && bytes[0] == (byte)' ') return bytes.AsSpan(1);
        return bytes;
    }

    /// <inheritdoc />
    public string GetPiece(int id) => (uint)id < (uint)_pieces.Length ? _pieces[id] : throw new ArgumentOutOfRangeException(nameof(id));

    private byte[] PieceBytes(int id)
    {
        var piece = _pieces[id];
        if (_addedIds.Contains(id)) return Encoding.UTF8.GetBytes(piece);
        if (_byteLevel)
        {
            var result = new List<byte>(piece.Length);
            foreach (var c in piece)
                if (ByteLevelDecode.TryGetValue(c, out var b)) result.Add(b);
                else result.AddRange(Encoding.UTF8.GetBytes(c.ToString()));
            return result.ToArray();
        }
        if (piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>'
            && byte.TryParse(piece.AsSpan(3, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var value)
            && _byteIds[value] == id)
            return [value];
        return Encoding.UTF8.GetBytes(piece.Replace(SpaceMark, ' '));
    }

    // GPT-2's bytes_to_unicode, inverted: printable Latin-1 bytes map to themselves, the rest to U+0100 onwards.
    private static readonly Dictionary<char, byte> ByteLevelDecode = BuildByteLevelDecode();

    private static Dictionary<char, byte> BuildByteLevelDecode()
    {
        var map = new Dictionary<char, byte>();
        int next = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[printable ? (char)b : (char)(256 + next++)] = (byte)b;
        }
        return map;
    }
}

using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace ModelCompiler.Tokenization;

/// <summary>
/// The tokenizer of Karpathy's llama2.c (<c>tokenizer.bin</c>, <c>tok512.bin</c>): a SentencePiece-style BPE
/// vocabulary with scores, encoded exactly as llama2.c's <c>encode</c> does.
/// </summary>
/// <remarks>
/// <para>File: int32 max_token_length, then per token float32 score, int32 byte length, the bytes (all
/// little-endian). The file does not say how many tokens it holds; llama2.c reads the model's vocab_size entries.
/// Ids 0, 1, 2 are &lt;unk&gt;, &lt;s&gt; (BOS), &lt;/s&gt; (EOS); ids 3..258 are the byte tokens
/// "&lt;0x00&gt;".."&lt;0xFF&gt;" (id = byte + 3).</para>
/// <para>Encoding: a dummy-prefix " " goes before non-empty text; each UTF-8 character becomes its vocabulary
/// entry, or its byte tokens when it has none; then the adjacent pair whose concatenated entries form the
/// entry with the highest score is merged, the leftmost pair on ties, until no pair forms an entry.
/// llama2.c rescans the whole sequence for every merge (quadratic); this class keeps the candidate pairs in a
/// priority queue ordered by (score descending, position ascending), which picks the same pair at every
/// step and so gives the same ids in O(n log n).</para>
/// <para>Where a byte string occurs more than once in the vocabulary, the lowest id stands for it (llama2.c's
/// binary search picks an unspecified one). Pairs whose entry scores -1e10 or less (or NaN) never merge, as in
/// llama2.c, whose search starts from -1e10.</para>
/// <para>Decoding follows llama2.c's <c>decode</c>: byte tokens become their byte, and the leading space of
/// the first piece after BOS is dropped; the start of a sequence counts as "after BOS", so that
/// <c>Decode(Encode(text)) == text</c>. BOS and EOS contribute nothing (llama2.c stops generating at BOS
/// instead of printing it). The bytes are decoded as UTF-8, so byte tokens recombine into multi-byte
/// characters; bytes that are not valid UTF-8 become U+FFFD.</para>
/// </remarks>
public sealed class Llama2cTokenizer : ITokenizer
{
    /// <summary>Id of &lt;unk&gt;.</summary>
    public const int UnknownTokenId = 0;
    /// <summary>Id of &lt;s&gt;, the beginning of a sequence.</summary>
    public const int BosTokenId = 1;
    /// <summary>Id of &lt;/s&gt;, the end of a sequence.</summary>
    public const int EosTokenId = 2;
    /// <summary>Id of the byte token for byte 0; byte b has id b + 3.</summary>
    public const int FirstByteTokenId = 3;

    /// <summary>Ids 0..258 are fixed by the format, so a smaller vocabulary cannot be a llama2.c one.</summary>
    public const int MinimumVocabularySize = FirstByteTokenId + 256;

    /// <summary>A sane upper bound for max_token_length: anything larger means a corrupt or foreign file.</summary>
    public const int MaxTokenLengthLimit = 1 << 16;

    /// <summary>llama2.c's merge search starts from this score and only takes a pair that beats it.</summary>
    private const float NoMergeScore = -1e10f;

    private readonly byte[][] _pieces;
    private readonly byte[][] _decodedPieces;
    private readonly float[] _scores;
    private readonly int[] _canonical;
    private readonly Dictionary<ulong, int> _characterIds;
    private readonly Dictionary<ulong, int> _merges;

    private Llama2cTokenizer(string sourcePath, string fingerprint, int maxTokenLength, byte[][] pieces, float[] scores)
    {
        SourcePath = sourcePath;
        Fingerprint = fingerprint;
        MaxTokenLength = maxTokenLength;
        _pieces = pieces;
        _scores = scores;

        // Lowest id per distinct byte string; keys are the bytes as Latin-1 text (one char per byte).
        var idOfPiece = new Dictionary<string, int>(pieces.Length, StringComparer.Ordinal);
        _canonical = new int[pieces.Length];
        _characterIds = new Dictionary<ulong, int>();
        _decodedPieces = new byte[pieces.Length][];
        for (int id = 0; id < pieces.Length; id++)
        {
            var key = Encoding.Latin1.GetString(pieces[id]);
            if (!idOfPiece.TryAdd(key, id)) { _canonical[id] = idOfPiece[key]; }
            else { _canonical[id] = id; }
            if (pieces[id].Length is >= 1 and <= 4) _characterIds.TryAdd(PackShort(pieces[id]), id);
            _decodedPieces[id] = TryParseByteToken(pieces[id], out byte b) ? [b] : pieces[id];
        }

        // Every mergeable pair: each split of an entry into two entries. concat(a, b) == v exactly when v splits
        // at len(a) into a and b, so this table answers llama2.c's "is a+b in the vocabulary" lookups.
        _merges = new Dictionary<ulong, int>();
        foreach (var (key, id) in idOfPiece)
        {
            if (!(scores[id] > NoMergeScore)) continue;
            for (int k = 1; k < key.Length; k++)
            {
                if (idOfPiece.TryGetValue(key[..k], out int left) && idOfPiece.TryGetValue(key[k..], out int right))
                    _merges[PairKey(left, right)] = id;
            }
        }

        SpaceId = _characterIds.TryGetValue(PackShort(" "u8), out int space) ? space : null;
    }

    /// <inheritdoc />
    public string Format => "llama2.c";
    /// <inheritdoc />
    public string SourcePath { get; }
    /// <inheritdoc />
    public string Fingerprint { get; }
    /// <inheritdoc />
    public int VocabularySize => _pieces.Length;
    /// <inheritdoc />
    public int? BosId => BosTokenId;
    /// <inheritdoc />
    public int? EosId => EosTokenId;

    /// <summary>The file's max_token_length header field.</summary>
    public int MaxTokenLength { get; }

    /// <summary>Id of the " " entry used as dummy prefix; null when the vocabulary has none (the byte token is used).</summary>
    public int? SpaceId { get; }

    /// <summary>Merge score of an entry (higher merges first).</summary>
    public float GetScore(int id) => _scores[CheckId(id)];

    /// <summary>The raw bytes of an entry as stored in the file.</summary>
    public ReadOnlySpan<byte> GetPieceBytes(int id) => _pieces[CheckId(id)];

    /// <inheritdoc />
    public string GetPiece(int id) => Encoding.UTF8.GetString(_pieces[CheckId(id)]);

    /// <summary>
    /// Reads a llama2.c tokenizer. <paramref name="vocabSize"/> is the model's vocabulary size: exactly that many
    /// entries are read (as llama2.c does; bytes after them are ignored). With null, entries are read to the end
    /// of the file.
    /// </summary>
    /// <exception cref="ModelCompilerException">MC1020 missing file, MC1021 corrupt file, MC1022 too few entries.</exception>
    public static Llama2cTokenizer Load(string path, int? vocabSize = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (vocabSize is <= 0) throw new ArgumentOutOfRangeException(nameof(vocabSize), vocabSize, "vocabulary size must be positive");

        var fullPath = Path.GetFullPath(path);
        if (!File.Exists(fullPath))
            throw new ModelCompilerException(TokenizationErrors.TokenizerNotFound,
                "tokenizer file not found; pass the llama2.c tokenizer (.bin) the model was trained with.", fullPath);
        byte[] data;
        try { data = File.ReadAllBytes(fullPath); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelCompilerException(TokenizationErrors.TokenizerNotFound, $"cannot read the tokenizer file: {e.Message}", fullPath, inner: e);
        }
        return Parse(data, fullPath, vocabSize);
    }

    /// <summary>Parses the bytes of a llama2.c tokenizer file; <paramref name="sourcePath"/> names it in errors.</summary>
    public static Llama2cTokenizer Parse(ReadOnlySpan<byte> data, string sourcePath, int? vocabSize = null)
    {
        if (vocabSize is <= 0) throw new ArgumentOutOfRangeException(nameof(vocabSize), vocabSize, "vocabulary size must be positive");
        const string what = "; the file is corrupt or not a llama2.c tokenizer.";

        if (data.Length < 4)
            throw Corrupt($"truncated: {data.Length} bytes, shorter than the 4-byte max_token_length header" + what);
        int maxTokenLength = BinaryPrimitives.ReadInt32LittleEndian(data);
        if (maxTokenLength is <= 0 or > MaxTokenLengthLimit)
            throw Corrupt($"max_token_length is {maxTokenLength}, expected 1..{MaxTokenLengthLimit}" + what);

        var pieces = new List<byte[]>(vocabSize ?? 1024);
        var scores = new List<float>(vocabSize ?? 1024);
        int offset = 4;
        while (vocabSize is { } n ? pieces.Count < n : offset < data.Length)
        {
            int index = pieces.Count;
            if (offset == data.Length)
                throw new ModelCompilerException(TokenizationErrors.TokenizerVocabularyMismatch,
                    $"the tokenizer has {index} entries but the model's vocabulary has {vocabSize}; use the tokenizer that belongs to this model.",
                    sourcePath);
            if (data.Length - offset < 8)
                throw Corrupt($"truncated: entry {index} at byte offset {offset} needs an 8-byte score and length, only {data.Length - offset} bytes remain" + what);
            float score = BinaryPrimitives.ReadSingleLittleEndian(data[offset..]);
            int length = BinaryPrimitives.ReadInt32LittleEndian(data[(offset + 4)..]);
            offset += 8;
            if (length < 0)
                throw Corrupt($"entry {index} has a negative length ({length})" + what);
            if (length > maxTokenLength)
                throw Corrupt($"entry {index} is {length} bytes long, more than max_token_length {maxTokenLength}" + what);
            if (length > data.Length - offset)
                throw Corrupt($"truncated: entry {index} claims {length} bytes at byte offset {offset}, only {data.Length - offset} remain" + what);
            pieces.Add(data.Slice(offset, length).ToArray());
            scores.Add(score);
            offset += length;
        }

        if (pieces.Count < MinimumVocabularySize)
            throw Corrupt($"{pieces.Count} entries; a llama2.c vocabulary has at least {MinimumVocabularySize} (<unk>, <s>, </s> and 256 byte tokens)" + what);

        var fingerprint = TokenizerFile.Fingerprint(data);
        return new Llama2cTokenizer(sourcePath, fingerprint, maxTokenLength, [.. pieces], [.. scores]);

        ModelCompilerException Corrupt(string message) => new(TokenizationErrors.TokenizerCorrupt, message, sourcePath);
    }

    /// <inheritdoc />
    public IReadOnlyList<int> Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0) return Array.Empty<int>();

        // The dummy prefix goes in as a leading space byte: it is a one-byte character, so it maps to the " "
        // entry (or its byte token) exactly like llama2.c's separately pushed dummy_prefix token.
        int byteCount = Encoding.UTF8.GetByteCount(text) + 1;
        byte[] rented = ArrayPool<byte>.Shared.Rent(byteCount);
        try
        {
            rented[0] = (byte)' ';
            Encoding.UTF8.GetBytes(text, rented.AsSpan(1));
            var tokens = CharacterTokens(rented.AsSpan(0, byteCount));
            return Merge(tokens);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>llama2.c's first pass: each UTF-8 character (at most 4 bytes) to its entry, else to byte tokens.</summary>
    private List<int> CharacterTokens(ReadOnlySpan<byte> bytes)
    {
        var tokens = new List<int>(bytes.Length);
        int start = 0;
        for (int i = 0; i < bytes.Length; i++)
        {
            if ((bytes[i] & 0xC0) != 0x80) start = i;
            int length = i - start + 1;
            if (i + 1 < bytes.Length && (bytes[i + 1] & 0xC0) == 0x80 && length < 4) continue;

            var character = bytes.Slice(start, length);
            if (_characterIds.TryGetValue(PackShort(character), out int id))
            {
                tokens.Add(id);
            }
            else
            {
                foreach (byte b in character) tokens.Add(b + FirstByteTokenId);
            }
            start = i + 1;
        }
        return tokens;
    }

    /// <summary>llama2.c's merge loop, driven by a priority queue instead of a rescan per merge.</summary>
    private int[] Merge(List<int> initial)
    {
        int n = initial.Count;
        var token = initial.ToArray();
        if (n < 2) return token;

        var next = new int[n];
        var prev = new int[n];
        for (int i = 0; i < n; i++) { next[i] = i + 1; prev[i] = i - 1; }
        next[n - 1] = -1;

        // A queued pair is still current when its left node is alive, its right node is still the left node's
        // neighbour, and neither has changed token since it was queued. Among current pairs the queue yields the
        // highest score and, on ties, the smallest left position: node positions keep sequence order, so that is
        // the leftmost pair, as with llama2.c's strict '>' scan.
        var queue = new PriorityQueue<Candidate, (float Score, int Left)>(n, CandidateOrder.Instance);
        for (int i = 0; i + 1 < n; i++) Offer(i, i + 1);

        while (queue.TryDequeue(out var c, out _))
        {
            if (token[c.Left] != c.LeftToken || next[c.Left] != c.Right || token[c.Right] != c.RightToken) continue;
            token[c.Left] = c.Merged;
            token[c.Right] = -1;
            int after = next[c.Right];
            next[c.Left] = after;
            if (after >= 0) prev[after] = c.Left;
            if (prev[c.Left] >= 0) Offer(prev[c.Left], c.Left);
            if (after >= 0) Offer(c.Left, after);
        }

        var result = new List<int>();
        for (int i = 0; i >= 0; i = next[i]) result.Add(token[i]);
        return [.. result];

        void Offer(int left, int right)
        {
            int a = token[left], b = token[right];
            if (_merges.TryGetValue(PairKey(_canonical[a], _canonical[b]), out int merged))
                queue.Enqueue(new Candidate(left, right, a, b, merged), (_scores[merged], left));
        }
    }

    /// <inheritdoc />
    public string Decode(ReadOnlySpan<int> ids)
    {
        var buffer = new ArrayBufferWriter<byte>(Math.Max(16, ids.Length * 4));
        for (int i = 0; i < ids.Length; i++)
            buffer.Write(DecodeTokenBytes(i == 0 ? -1 : ids[i - 1], ids[i]));
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <inheritdoc />
    public ReadOnlySpan<byte> DecodeTokenBytes(int previous, int id)
    {
        CheckId(id);
        if (id is BosTokenId or EosTokenId) return ReadOnlySpan<byte>.Empty;
        ReadOnlySpan<byte> piece = _decodedPieces[id];
        if ((previous < 0 || previous == BosTokenId) && piece.Length > 0 && piece[0] == (byte)' ') piece = piece[1..];
        return piece;
    }

    private int CheckId(int id)
    {
        if ((uint)id >= (uint)_pieces.Length)
            throw new ArgumentOutOfRangeException(nameof(id), id, $"token id outside the vocabulary (0..{_pieces.Length - 1})");
        return id;
    }

    /// <summary>"&lt;0xXX&gt;" (hex digits in either case), as llama2.c's <c>sscanf("&lt;0x%02hhX&gt;")</c> accepts it.</summary>
    private static bool TryParseByteToken(ReadOnlySpan<byte> piece, out byte value)
    {
        value = 0;
        if (piece.Length != 6 || !piece.StartsWith("<0x"u8) || piece[5] != (byte)'>') return false;
        int hi = HexValue(piece[3]), lo = HexValue(piece[4]);
        if (hi < 0 || lo < 0) return false;
        value = (byte)(hi * 16 + lo);
        return true;

        static int HexValue(byte c) => c switch
        {
            >= (byte)'0' and <= (byte)'9' => c - '0',
            >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
            >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
            _ => -1,
        };
    }

    /// <summary>Key of a 1..4-byte string: its length above its bytes, so "a" and "a\0" differ.</summary>
    private static ulong PackShort(ReadOnlySpan<byte> bytes)
    {
        ulong key = (ulong)bytes.Length << 32;
        for (int i = 0; i < bytes.Length; i++) key |= (ulong)bytes[i] << (8 * i);
        return key;
    }

    private static ulong PairKey(int left, int right) => ((ulong)(uint)left << 32) | (uint)right;

    private readonly record struct Candidate(int Left, int Right, int LeftToken, int RightToken, int Merged);

    private sealed class CandidateOrder : IComparer<(float Score, int Left)>
    {
        public static readonly CandidateOrder Instance = new();

        public int Compare((float Score, int Left) x, (float Score, int Left) y)
        {
            // Scores are never NaN here (such entries never merge); -0.0 and 0.0 tie, as with C's '>'.
            if (x.Score > y.Score) return -1;
            if (x.Score < y.Score) return 1;
            return x.Left.CompareTo(y.Left);
        }
    }
}

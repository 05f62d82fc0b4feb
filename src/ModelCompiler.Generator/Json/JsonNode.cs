using System.Collections.Generic;
using System.Globalization;

namespace ModelCompiler.Generator.Json
{
    internal enum JsonKind
    {
        Object,
        Array,
        String,
        Number,
        True,
        False,
        Null,
    }

    /// <summary>Where a JSON value starts in the text: 0-based offset, line and column.</summary>
    internal readonly struct JsonPosition
    {
        public JsonPosition(int offset, int line, int column)
        {
            Offset = offset;
            Line = line;
            Column = column;
        }

        public int Offset { get; }

        public int Line { get; }

        public int Column { get; }
    }

    /// <summary>A parsed JSON value together with its position in the manifest, for precise diagnostics.</summary>
    internal abstract class JsonNode
    {
        protected JsonNode(JsonPosition start, int length)
        {
            Start = start;
            Length = length;
        }

        public JsonPosition Start { get; }

        /// <summary>Characters the value spans in the text (only the opening bracket for objects and arrays).</summary>
        public int Length { get; }

        public abstract JsonKind Kind { get; }

        public string KindName => Kind switch
        {
            JsonKind.Object => "an object",
            JsonKind.Array => "an array",
            JsonKind.String => "a string",
            JsonKind.Number => "a number",
            JsonKind.True or JsonKind.False => "a boolean",
            _ => "null",
        };
    }

    internal sealed class JsonObject : JsonNode
    {
        private readonly List<KeyValuePair<string, JsonNode>> _members = new List<KeyValuePair<string, JsonNode>>();

        public JsonObject(JsonPosition start)
            : base(start, 1)
        {
        }

        public override JsonKind Kind => JsonKind.Object;

        public IReadOnlyList<KeyValuePair<string, JsonNode>> Members => _members;

        internal void Add(string key, JsonNode value) => _members.Add(new KeyValuePair<string, JsonNode>(key, value));

        /// <summary>The value of a key; the last one wins when a key repeats, as in most JSON readers.</summary>
        public JsonNode? this[string key]
        {
            get
            {
                for (int i = _members.Count - 1; i >= 0; i--)
                {
                    if (_members[i].Key == key)
                    {
                        return _members[i].Value;
                    }
                }

                return null;
            }
        }
    }

    internal sealed class JsonArray : JsonNode
    {
        private readonly List<JsonNode> _items = new List<JsonNode>();

        public JsonArray(JsonPosition start)
            : base(start, 1)
        {
        }

        public override JsonKind Kind => JsonKind.Array;

        public IReadOnlyList<JsonNode> Items => _items;

        internal void Add(JsonNode value) => _items.Add(value);
    }

    internal sealed class JsonString : JsonNode
    {
        public JsonString(JsonPosition start, int length, string value)
            : base(start, length)
        {
            Value = value;
        }

        public override JsonKind Kind => JsonKind.String;

        public string Value { get; }
    }

    internal sealed class JsonNumber : JsonNode
    {
        public JsonNumber(JsonPosition start, string text)
            : base(start, text.Length)
        {
            Text = text;
        }

        public override JsonKind Kind => JsonKind.Number;

        /// <summary>The number exactly as written.</summary>
        public string Text { get; }

        /// <summary>The value when the number is an integer that fits in 64 bits (no fraction, no exponent).</summary>
        public bool TryGetInt64(out long value)
            => long.TryParse(Text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);
    }

    internal sealed class JsonLiteral : JsonNode
    {
        private readonly JsonKind _kind;

        public JsonLiteral(JsonPosition start, JsonKind kind, int length)
            : base(start, length)
        {
            _kind = kind;
        }

        public override JsonKind Kind => _kind;
    }
}

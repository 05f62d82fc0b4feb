using System;
using System.Globalization;
using System.Text;

namespace ModelCompiler.Generator.Json
{
    /// <summary>Thrown for text that is not valid JSON; carries the 0-based position of the problem.</summary>
    internal sealed class JsonReaderException : Exception
    {
        public JsonReaderException(string message, JsonPosition position)
            : base(message)
        {
            Position = position;
        }

        public JsonPosition Position { get; }
    }

    /// <summary>
    /// A small strict JSON (RFC 8259) reader. The generator runs inside the compiler, where it cannot
    /// bring System.Text.Json along, and the manifest needs only objects, arrays, strings, numbers and literals.
    /// </summary>
    internal sealed class JsonReader
    {
        // Manifests nest about six levels; the limit only guards the compiler's stack against hostile input.
        private const int MaxDepth = 128;

        private readonly string _text;
        private int _pos;
        private int _line;
        private int _lineStart;

        private JsonReader(string text)
        {
            _text = text;
        }

        public static JsonNode Parse(string text)
        {
            if (text is null)
            {
                throw new ArgumentNullException(nameof(text));
            }

            var reader = new JsonReader(text);
            if (text.Length > 0 && text[0] == '\uFEFF')
            {
                reader._pos = 1;
                reader._lineStart = 1;
            }

            reader.SkipWhitespace();
            if (reader.AtEnd)
            {
                throw reader.Error("The file is empty; expected a JSON object.");
            }

            var root = reader.ReadValue(0);
            reader.SkipWhitespace();
            if (!reader.AtEnd)
            {
                throw reader.Error($"Unexpected '{Describe(reader._text[reader._pos])}' after the end of the JSON value.");
            }

            return root;
        }

        private bool AtEnd => _pos >= _text.Length;

        private JsonPosition Position => new JsonPosition(_pos, _line, _pos - _lineStart);

        private JsonReaderException Error(string message) => new JsonReaderException(message, Position);

        private JsonNode ReadValue(int depth)
        {
            if (AtEnd)
            {
                throw Error("Unexpected end of file; expected a value.");
            }

            char c = _text[_pos];
            switch (c)
            {
                case '{':
                    return ReadObject(depth + 1);
                case '[':
                    return ReadArray(depth + 1);
                case '"':
                    return ReadString();
                case 't':
                    return ReadLiteral("true", JsonKind.True);
                case 'f':
                    return ReadLiteral("false", JsonKind.False);
                case 'n':
                    return ReadLiteral("null", JsonKind.Null);
                default:
                    if (c == '-' || (c >= '0' && c <= '9'))
                    {
                        return ReadNumber();
                    }

                    throw Error($"Unexpected '{Describe(c)}'; expected a value.");
            }
        }

        private JsonObject ReadObject(int depth)
        {
            CheckDepth(depth);
            var obj = new JsonObject(Position);
            _pos++;
            SkipWhitespace();
            if (!AtEnd && _text[_pos] == '}')
            {
                _pos++;
                return obj;
            }

            while (true)
            {
                SkipWhitespace();
                if (AtEnd)
                {
                    throw Error("Unexpected end of file inside an object; expected a property name.");
                }

                if (_text[_pos] != '"')
                {
                    throw Error($"Unexpected '{Describe(_text[_pos])}'; expected a property name in double quotes.");
                }

                string key = ReadString().Value;
                SkipWhitespace();
                Expect(':', "after a property name");
                SkipWhitespace();
                obj.Add(key, ReadValue(depth));
                SkipWhitespace();
                if (AtEnd)
                {
                    throw Error("Unexpected end of file inside an object; expected ',' or '}'.");
                }

                char c = _text[_pos++];
                if (c == '}')
                {
                    return obj;
                }

                if (c != ',')
                {
                    _pos--;
                    throw Error($"Unexpected '{Describe(c)}'; expected ',' or '}}' in an object.");
                }
            }
        }

        private JsonArray ReadArray(int depth)
        {
            CheckDepth(depth);
            var array = new JsonArray(Position);
            _pos++;
            SkipWhitespace();
            if (!AtEnd && _text[_pos] == ']')
            {
                _pos++;
                return array;
            }

            while (true)
            {
                SkipWhitespace();
                array.Add(ReadValue(depth));
                SkipWhitespace();
                if (AtEnd)
                {
                    throw Error("Unexpected end of file inside an array; expected ',' or ']'.");
                }

                char c = _text[_pos++];
                if (c == ']')
                {
                    return array;
                }

                if (c != ',')
                {
                    _pos--;
                    throw Error($"Unexpected '{Describe(c)}'; expected ',' or ']' in an array.");
                }
            }
        }

        private JsonString ReadString()
        {
            var start = Position;
            _pos++; // opening quote
            StringBuilder? builder = null;
            int runStart = _pos;
            while (true)
            {
                if (AtEnd)
                {
                    throw new JsonReaderException("Unterminated string.", start);
                }

                char c = _text[_pos];
                if (c == '"')
                {
                    string value = builder is null
                        ? _text.Substring(runStart, _pos - runStart)
                        : builder.Append(_text, runStart, _pos - runStart).ToString();
                    _pos++;
                    return new JsonString(start, _pos - start.Offset, value);
                }

                if (c < ' ')
                {
                    throw Error(c == '\n' || c == '\r'
                        ? "Unterminated string (a line break inside a string must be written as \\n)."
                        : $"Control character U+{(int)c:X4} inside a string must be escaped.");
                }

                if (c != '\\')
                {
                    _pos++;
                    continue;
                }

                builder ??= new StringBuilder();
                builder.Append(_text, runStart, _pos - runStart);
                _pos++;
                if (AtEnd)
                {
                    throw new JsonReaderException("Unterminated string.", start);
                }

                char e = _text[_pos++];
                switch (e)
                {
                    case '"': builder.Append('"'); break;
                    case '\\': builder.Append('\\'); break;
                    case '/': builder.Append('/'); break;
                    case 'b': builder.Append('\b'); break;
                    case 'f': builder.Append('\f'); break;
                    case 'n': builder.Append('\n'); break;
                    case 'r': builder.Append('\r'); break;
                    case 't': builder.Append('\t'); break;
                    case 'u':
                        builder.Append(ReadHex4());
                        break;
                    default:
                        _pos--;
                        throw Error($"Invalid escape sequence '\\{Describe(e)}' in a string.");
                }

                runStart = _pos;
            }
        }

        private char ReadHex4()
        {
            if (_pos + 4 > _text.Length)
            {
                throw Error("Incomplete \\u escape; expected four hexadecimal digits.");
            }

            int value = 0;
            for (int i = 0; i < 4; i++)
            {
                char h = _text[_pos];
                int digit = h >= '0' && h <= '9' ? h - '0'
                    : h >= 'a' && h <= 'f' ? h - 'a' + 10
                    : h >= 'A' && h <= 'F' ? h - 'A' + 10
                    : -1;
                if (digit < 0)
                {
                    throw Error($"Invalid hexadecimal digit '{Describe(h)}' in a \\u escape.");
                }

                value = (value << 4) | digit;
                _pos++;
            }

            return (char)value;
        }

        private JsonNumber ReadNumber()
        {
            var start = Position;
            if (_text[_pos] == '-')
            {
                _pos++;
            }

            if (AtEnd || !IsDigit(_text[_pos]))
            {
                throw Error("Invalid number; expected a digit.");
            }

            if (_text[_pos] == '0')
            {
                _pos++;
                if (!AtEnd && IsDigit(_text[_pos]))
                {
                    throw Error("Invalid number; leading zeros are not allowed.");
                }
            }
            else
            {
                SkipDigits();
            }

            if (!AtEnd && _text[_pos] == '.')
            {
                _pos++;
                if (AtEnd || !IsDigit(_text[_pos]))
                {
                    throw Error("Invalid number; expected a digit after the decimal point.");
                }

                SkipDigits();
            }

            if (!AtEnd && (_text[_pos] == 'e' || _text[_pos] == 'E'))
            {
                _pos++;
                if (!AtEnd && (_text[_pos] == '+' || _text[_pos] == '-'))
                {
                    _pos++;
                }

                if (AtEnd || !IsDigit(_text[_pos]))
                {
                    throw Error("Invalid number; expected a digit in the exponent.");
                }

                SkipDigits();
            }

            return new JsonNumber(start, _text.Substring(start.Offset, _pos - start.Offset));
        }

        private JsonLiteral ReadLiteral(string literal, JsonKind kind)
        {
            var start = Position;
            if (string.CompareOrdinal(_text, _pos, literal, 0, literal.Length) != 0
                || (_pos + literal.Length < _text.Length && char.IsLetterOrDigit(_text[_pos + literal.Length])))
            {
                throw Error($"Unexpected '{Describe(_text[_pos])}'; expected a value (literals are true, false and null).");
            }

            _pos += literal.Length;
            return new JsonLiteral(start, kind, literal.Length);
        }

        private void Expect(char expected, string context)
        {
            if (AtEnd)
            {
                throw Error($"Unexpected end of file; expected '{expected}' {context}.");
            }

            if (_text[_pos] != expected)
            {
                throw Error($"Unexpected '{Describe(_text[_pos])}'; expected '{expected}' {context}.");
            }

            _pos++;
        }

        private void CheckDepth(int depth)
        {
            if (depth > MaxDepth)
            {
                throw Error($"The JSON nests deeper than {MaxDepth.ToString(CultureInfo.InvariantCulture)} levels.");
            }
        }

        private void SkipDigits()
        {
            while (!AtEnd && IsDigit(_text[_pos]))
            {
                _pos++;
            }
        }

        private void SkipWhitespace()
        {
            while (!AtEnd)
            {
                char c = _text[_pos];
                if (c == ' ' || c == '\t')
                {
                    _pos++;
                }
                else if (c == '\n')
                {
                    _pos++;
                    _line++;
                    _lineStart = _pos;
                }
                else if (c == '\r')
                {
                    _pos++;
                    if (!AtEnd && _text[_pos] == '\n')
                    {
                        _pos++;
                    }

                    _line++;
                    _lineStart = _pos;
                }
                else
                {
                    return;
                }
            }
        }

        private static bool IsDigit(char c) => c >= '0' && c <= '9';

        private static string Describe(char c) => c < ' ' || c == '\u007F'
            ? "U+" + ((int)c).ToString("X4", CultureInfo.InvariantCulture)
            : c.ToString();
    }
}

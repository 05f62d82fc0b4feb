using System.Text;

namespace ModelCompiler.Generator.Emitting
{
    /// <summary>Indented C# text with '\n' line endings on every OS, so that generated files are byte-identical everywhere.</summary>
    internal sealed class CodeWriter
    {
        private readonly StringBuilder _builder = new StringBuilder(16 * 1024);
        private int _indent;

        public void Line(string text)
        {
            if (text.Length > 0)
            {
                _builder.Append(' ', _indent * 4).Append(text);
            }

            _builder.Append('\n');
        }

        public void Line() => _builder.Append('\n');

        /// <summary>Writes the line, then '{' on its own line, and indents.</summary>
        public void Open(string text)
        {
            Line(text);
            Line("{");
            _indent++;
        }

        /// <summary>Writes '{' on its own line and indents.</summary>
        public void Open()
        {
            Line("{");
            _indent++;
        }

        public void Indent() => _indent++;

        public void Outdent() => _indent--;

        public void Close(string suffix = "")
        {
            _indent--;
            Line("}" + suffix);
        }

        public void Summary(string xml) => Line("/// <summary>" + xml + "</summary>");

        public void Param(string name, string xml) => Line("/// <param name=\"" + name + "\">" + xml + "</param>");

        public void Returns(string xml) => Line("/// <returns>" + xml + "</returns>");

        public void Remarks(string xml) => Line("/// <remarks>" + xml + "</remarks>");

        public void Exception(string cref, string xml) => Line("/// <exception cref=\"" + cref + "\">" + xml + "</exception>");

        public override string ToString() => _builder.ToString();
    }
}

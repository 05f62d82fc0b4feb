using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace ModelCompiler.Spec;

/// <summary>A YAML node with the position it starts at.</summary>
internal abstract class YNode(SpecLocation location)
{
    public SpecLocation Location { get; } = location;

    /// <summary>For messages: "a list", "a mapping", "the text 'abc'".</summary>
    public abstract string Describe();
}

internal sealed class YScalar(string value, bool plain, SpecLocation location) : YNode(location)
{
    public string Value { get; } = value;

    /// <summary>An unquoted scalar: the only kind that can mean null.</summary>
    public bool IsPlain { get; } = plain;

    public bool IsNull => IsPlain && Value is "" or "~" or "null" or "Null" or "NULL";

    public override string Describe() => IsNull ? "nothing (null)" : $"the value '{Value}'";
}

internal sealed class YSequence(IReadOnlyList<YNode> items, SpecLocation location) : YNode(location)
{
    public IReadOnlyList<YNode> Items { get; } = items;

    public override string Describe() => "a list";
}

/// <summary>A mapping that keeps every entry in order, duplicates included, so that they can be reported.</summary>
internal sealed class YMapping(IReadOnlyList<KeyValuePair<YScalar, YNode>> entries, SpecLocation location) : YNode(location)
{
    public IReadOnlyList<KeyValuePair<YScalar, YNode>> Entries { get; } = entries;

    public override string Describe() => "a mapping of keys";
}

/// <summary>
/// Reads YAML text into <see cref="YNode"/>s from YamlDotNet's parser events. The representation model
/// (<c>YamlStream</c>) would do, but it rejects duplicate keys without saying where the first one is.
/// </summary>
internal static partial class SpecYaml
{
    /// <summary>How deep mappings and lists may nest; a spec needs about five levels, and deeper input is refused
    /// before anything recurses over it (20000 levels would otherwise overflow the stack).</summary>
    public const int MaxDepth = 64;

    /// <summary>The single document's root node, or null when the text holds no document or a null one.</summary>
    public static YNode? ReadSingleDocument(string text, string file)
    {
        var reader = new EventReader(file);
        var parser = new Parser(new StringReader(text));
        try
        {
            parser.Consume<StreamStart>();
            if (parser.TryConsume<StreamEnd>(out _))
            {
                return null;
            }

            parser.Consume<DocumentStart>();
            var root = reader.ReadNode(parser);
            parser.Consume<DocumentEnd>();
            if (parser.TryConsume<DocumentStart>(out var second))
            {
                throw At(file, second.Start).Error(SpecCodes.MultipleDocuments,
                    "the spec holds more than one YAML document; keep one document (remove the second '---' and what follows it)");
            }

            parser.Consume<StreamEnd>();
            return root is YScalar { IsNull: true } ? null : root;
        }
        catch (YamlException ex)
        {
            throw At(file, ex.Start).Error(SpecCodes.YamlSyntax,
                $"YAML syntax error: {StripMarks(ex.Message)}; fix the YAML at this line (check indentation, colons and quotes)", ex);
        }
        catch (Exception ex) when (ex is not ModelCompilerException and not OutOfMemoryException)
        {
            // YamlDotNet lets a few non-YamlExceptions escape on malformed input (an unclosed flow mapping ends the
            // stream where an event was expected); they are syntax errors too, reported where parsing stopped.
            var mark = parser.Current?.Start ?? Mark.Empty;
            throw At(file, mark).Error(SpecCodes.YamlSyntax,
                $"YAML syntax error: {ex.Message.TrimEnd('.', ' ')}; fix the YAML at this line (check brackets, braces, indentation and quotes)", ex);
        }
    }

    public static SpecLocation At(string file, Mark mark) => new(file, (int)mark.Line, (int)mark.Column);

    // YamlException.Message starts with "(Line: 3, Col: 5, Idx: 20) - (Line: 3, Col: 6, Idx: 21): "; the location is reported apart.
    private static string StripMarks(string message) => MarksPrefix().Replace(message, "").TrimEnd('.', ' ');

    [GeneratedRegex(@"^\(Line: \d+, Col: \d+, Idx: \d+\) - \(Line: \d+, Col: \d+, Idx: \d+\): ")]
    private static partial Regex MarksPrefix();

    private sealed class EventReader(string file)
    {
        private readonly Dictionary<string, YNode> _anchors = new(StringComparer.Ordinal);

        public YNode ReadNode(IParser parser, int depth = 0)
        {
            if (depth > MaxDepth)
            {
                var where = parser.Current?.Start ?? Mark.Empty;
                throw At(file, where).Error(SpecCodes.YamlTooDeep,
                    $"the YAML nests lists and mappings more than {MaxDepth} levels deep; a spec needs only a few levels");
            }

            if (parser.TryConsume<AnchorAlias>(out var alias))
            {
                return _anchors.TryGetValue(alias.Value.Value, out var target)
                    ? target
                    : throw At(file, alias.Start).Error(SpecCodes.YamlSyntax,
                        $"YAML syntax error: alias '*{alias.Value.Value}' names no anchor defined before it; define '&{alias.Value.Value}' first");
            }

            YNode node;
            AnchorName anchor;
            if (parser.TryConsume<Scalar>(out var scalar))
            {
                node = new YScalar(scalar.Value, scalar.Style == ScalarStyle.Plain, At(file, scalar.Start));
                anchor = scalar.Anchor;
            }
            else if (parser.TryConsume<SequenceStart>(out var sequenceStart))
            {
                var items = new List<YNode>();
                while (!parser.TryConsume<SequenceEnd>(out _))
                {
                    items.Add(ReadNode(parser, depth + 1));
                }

                node = new YSequence(items, At(file, sequenceStart.Start));
                anchor = sequenceStart.Anchor;
            }
            else
            {
                var mappingStart = parser.Consume<MappingStart>();
                var entries = new List<KeyValuePair<YScalar, YNode>>();
                while (!parser.TryConsume<MappingEnd>(out _))
                {
                    var key = ReadNode(parser, depth + 1);
                    if (key is not YScalar scalarKey)
                    {
                        throw key.Location.Error(SpecCodes.WrongType,
                            $"a key must be a plain name, not {key.Describe()}; write keys such as 'target:'");
                    }

                    entries.Add(new(scalarKey, ReadNode(parser, depth + 1)));
                }

                node = new YMapping(entries, At(file, mappingStart.Start));
                anchor = mappingStart.Anchor;
            }

            if (!anchor.IsEmpty)
            {
                _anchors[anchor.Value] = node;
            }

            return node;
        }
    }
}

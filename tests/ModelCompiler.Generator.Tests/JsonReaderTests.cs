using ModelCompiler.Generator.Json;

namespace ModelCompiler.Generator.Tests;

public sealed class JsonReaderTests
{
    [Fact]
    public void Reads_objects_arrays_strings_numbers_and_literals()
    {
        var root = Assert.IsType<JsonObject>(JsonReader.Parse("\uFEFF{ \"a\": [1, -2.5e3, 0, true, false, null], \"s\": \"q\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00\", \"o\": {} }"));

        var array = Assert.IsType<JsonArray>(root["a"]);
        Assert.Equal([JsonKind.Number, JsonKind.Number, JsonKind.Number, JsonKind.True, JsonKind.False, JsonKind.Null], array.Items.Select(i => i.Kind));
        Assert.True(((JsonNumber)array.Items[0]).TryGetInt64(out long one));
        Assert.Equal(1, one);
        Assert.False(((JsonNumber)array.Items[1]).TryGetInt64(out _));
        Assert.Equal("-2.5e3", ((JsonNumber)array.Items[1]).Text);
        Assert.Equal("q\"\\/\b\f\n\r\té😀", Assert.IsType<JsonString>(root["s"]).Value);
        Assert.Empty(Assert.IsType<JsonObject>(root["o"]).Members);
        Assert.Null(root["missing"]);
    }

    [Fact]
    public void Records_zero_based_positions()
    {
        var root = (JsonObject)JsonReader.Parse("{\r\n  \"a\":\n    [ \"x\" ]\n}");

        var array = (JsonArray)root["a"]!;
        Assert.Equal((2, 4), (array.Start.Line, array.Start.Column));
        Assert.Equal((2, 6), (array.Items[0].Start.Line, array.Items[0].Start.Column));
        Assert.Equal(3, array.Items[0].Length);
    }

    [Fact]
    public void The_last_duplicate_key_wins()
    {
        var root = (JsonObject)JsonReader.Parse("{\"a\": 1, \"a\": 2}");

        Assert.Equal("2", ((JsonNumber)root["a"]!).Text);
    }

    [Theory]
    [InlineData("", 0, 0)]
    [InlineData("{\"a\" 1}", 0, 5)]
    [InlineData("{\"a\": 1\n\"b\": 2}", 1, 0)]
    [InlineData("[1 2]", 0, 3)]
    [InlineData("\"a\nb\"", 0, 2)]
    [InlineData("\"\\u12G4\"", 0, 5)]
    [InlineData("-", 0, 1)]
    [InlineData("1.", 0, 2)]
    [InlineData("1e+", 0, 3)]
    [InlineData("nul", 0, 0)]
    [InlineData("nullx", 0, 0)]
    [InlineData("{\"a\": 1} x", 0, 9)]
    [InlineData("// comment\n{}", 0, 0)]
    public void Rejects_invalid_json_with_its_position(string text, int line, int column)
    {
        var ex = Assert.Throws<JsonReaderException>(() => JsonReader.Parse(text));

        Assert.Equal((line, column), (ex.Position.Line, ex.Position.Column));
    }

    [Fact]
    public void Deep_nesting_is_an_error_not_a_stack_overflow()
    {
        string text = new string('[', 100_000) + new string(']', 100_000);

        var ex = Assert.Throws<JsonReaderException>(() => JsonReader.Parse(text));

        Assert.Contains("deeper", ex.Message, StringComparison.Ordinal);
    }
}

namespace ModelCompiler.Tasks.Tests;

public sealed class CommandLineTextTests
{
    [Fact]
    public void Response_file_quotes_only_what_would_split_or_vanish()
    {
        var text = CommandLineText.ToResponseFile(["compile", "--model", "/a b/m.onnx", "", "#notacomment", "@notafile", "/plain/p.yaml"]);

        Assert.Equal("compile\n--model\n\"/a b/m.onnx\"\n\"\"\n\"#notacomment\"\n\"@notafile\"\n/plain/p.yaml\n", text);
    }

    [Fact]
    public void Display_quotes_for_a_posix_shell()
    {
        var text = CommandLineText.ToDisplay(["/usr/bin/dotnet", "/p q/modelc.dll", "compile", "--spec", "/it's/s.yaml"], windows: false);

        Assert.Equal("/usr/bin/dotnet '/p q/modelc.dll' compile --spec '/it'\\''s/s.yaml'", text);
    }

    [Fact]
    public void Display_quotes_for_windows()
    {
        var text = CommandLineText.ToDisplay([@"C:\Program Files\dotnet\dotnet.exe", @"C:\pkg\modelc.dll", "compile"], windows: true);

        Assert.Equal(@"""C:\Program Files\dotnet\dotnet.exe"" C:\pkg\modelc.dll compile", text);
    }
}

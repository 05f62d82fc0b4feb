using ModelCompiler.IO;
using ModelCompiler.Onnx;
using ModelCompiler.Onnx.Proto;

namespace ModelCompiler.Import;

/// <summary>
/// Writes an imported model, its external data (if any) and its tokenizer copy as one set: all staged in a hidden
/// folder beside the output, then committed with <see cref="OutputSet"/> with the model last (the model names the
/// other two, so a reader who finds the new model finds its data and tokenizer). A failure leaves the previous files,
/// or nothing; stale staging of killed runs is removed first.
/// </summary>
public static class ImportOutputs
{
    public static void Write(ModelProto model, byte[]? tokenizer, string outputPath, SaveOptions? saveOptions)
    {
        var full = Path.GetFullPath(outputPath);
        var folder = Path.GetDirectoryName(full)!;
        var created = OutputSet.OutermostMissingFolder(folder);
        OutputSet.RemoveStale(folder);
        var staging = Path.Combine(folder, OutputSet.HiddenName(Path.GetFileName(full)));
        var committed = false;
        try
        {
            Directory.CreateDirectory(staging);
            var set = new OutputSet();
            var stagedModel = Path.Combine(staging, Path.GetFileName(full));
            if (tokenizer is not null)
            {
                var stagedTokenizer = Path.Combine(staging, Path.GetFileName(Llama2cImporter.TokenizerPathFor(full)));
                File.WriteAllBytes(stagedTokenizer, tokenizer);
                set.Add(stagedTokenizer, Llama2cImporter.TokenizerPathFor(full));
            }
            var stagedData = OnnxModelIO.Save(model, stagedModel, saveOptions);
            if (stagedData is not null) set.Add(stagedData, Path.Combine(folder, Path.GetFileName(stagedData)));
            set.SetRecord(stagedModel, full);
            set.Commit();
            committed = true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelCompilerException(PathGuard.BadDestination, $"cannot write the imported model: {e.Message}; nothing was changed.", full, inner: e);
        }
        finally
        {
            try { Directory.Delete(staging, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            if (!committed && created is not null) OutputSet.RemoveCreatedFolders(folder, created);
        }
    }
}

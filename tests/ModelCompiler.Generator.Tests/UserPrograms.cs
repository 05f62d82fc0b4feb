namespace ModelCompiler.Generator.Tests;

/// <summary>Consumer code that uses the generated wrappers, compiled with them under warnings-as-errors.</summary>
internal static class UserPrograms
{
    public const string Story = """
        using System;
        using Microsoft.ML.OnnxRuntime;

        namespace Demo.App
        {
            internal static class StoryDriver
            {
                public static long[] Generate(string modelPath, long[] prompt, int maxNewTokens)
                {
                    using var model = new StoryModel(modelPath);
                    return model.GenerateGreedy(prompt, maxNewTokens);
                }

                // Streams with await foreach; cancels once cancelAfter tokens arrived, and then appends -1.
                public static long[] Stream(string modelPath, long[] prompt, int maxNewTokens, int cancelAfter)
                    => StreamAsync(modelPath, prompt, maxNewTokens, cancelAfter).GetAwaiter().GetResult();

                private static async System.Threading.Tasks.Task<long[]> StreamAsync(string modelPath, long[] prompt, int maxNewTokens, int cancelAfter)
                {
                    using var model = new StoryModel(modelPath);
                    using var cts = new System.Threading.CancellationTokenSource();
                    var got = new System.Collections.Generic.List<long>();
                    try
                    {
                        await foreach (long id in model.GenerateAsync(prompt, maxNewTokens, cancellationToken: cts.Token))
                        {
                            got.Add(id);
                            if (got.Count == cancelAfter)
                            {
                                cts.Cancel();
                            }
                        }
                    }
                    catch (OperationCanceledException)
                    {
                        got.Add(-1);
                    }

                    return got.ToArray();
                }

                public static long[] EncodeText(string modelPath, string text)
                {
                    using var model = new StoryModel(modelPath);
                    return model.Encode(text);
                }

                public static string DecodeText(string modelPath, long[] tokens)
                {
                    using var model = new StoryModel(modelPath);
                    return model.Decode(tokens);
                }

                // The pieces GenerateAsync(string) streams, in order.
                public static string[] StreamText(string modelPath, string prompt, int maxNewTokens)
                    => StreamTextAsync(modelPath, prompt, maxNewTokens).GetAwaiter().GetResult();

                private static async System.Threading.Tasks.Task<string[]> StreamTextAsync(string modelPath, string prompt, int maxNewTokens)
                {
                    using var model = new StoryModel(modelPath);
                    var pieces = new System.Collections.Generic.List<string>();
                    await foreach (string piece in model.GenerateAsync(prompt, maxNewTokens))
                    {
                        pieces.Add(piece);
                    }

                    return pieces.ToArray();
                }

                public static string RunOnce(string modelPath, long[] prompt)
                {
                    using var model = StoryModel.CreateWithCuda(modelPath, deviceId: 0, fallbackToCpu: true);
                    int n = prompt.Length;
                    var mask = new long[n];
                    var positions = new long[n];
                    for (int i = 0; i < n; i++)
                    {
                        mask[i] = 1;
                        positions[i] = i;
                    }

                    var empty = new float[0];
                    using var inputs = new StoryModel.Inputs()
                        .SetInputIds(prompt, 1, n)
                        .SetAttentionMask(mask, 1, n)
                        .SetPositionIds(positions, 1, n)
                        .SetPastKeyValues0Key(empty, 1, StoryModel.NumKvHeads, 0, StoryModel.HeadDim)
                        .SetPastKeyValues0Value(empty, 1, StoryModel.NumKvHeads, 0, StoryModel.HeadDim)
                        .SetPastKeyValues1Key(empty, 1, StoryModel.NumKvHeads, 0, StoryModel.HeadDim)
                        .SetPastKeyValues1Value(empty, 1, StoryModel.NumKvHeads, 0, StoryModel.HeadDim)
                        .SetPastKeyValues2Key(empty, 1, StoryModel.NumKvHeads, 0, StoryModel.HeadDim)
                        .SetPastKeyValues2Value(empty, 1, StoryModel.NumKvHeads, 0, StoryModel.HeadDim)
                        .SetPastKeyValues3Key(empty, 1, StoryModel.NumKvHeads, 0, StoryModel.HeadDim)
                        .SetPastKeyValues3Value(empty, 1, StoryModel.NumKvHeads, 0, StoryModel.HeadDim)
                        .SetPastKeyValues4Key(empty, 1, StoryModel.NumKvHeads, 0, StoryModel.HeadDim);
                    inputs.PastKeyValues4Value = OrtValue.CreateTensorValueFromMemory(empty, new long[] { 1, StoryModel.NumKvHeads, 0, StoryModel.HeadDim });
                    using var outputs = model.Run(inputs);
                    ReadOnlySpan<float> logits = outputs.LogitsData;
                    var last = logits.Slice(logits.Length - (int)StoryModel.VocabSize);
                    int best = 0;
                    for (int i = 1; i < last.Length; i++)
                    {
                        if (last[i] > last[best])
                        {
                            best = i;
                        }
                    }

                    OrtValue present = outputs.Present0Key;
                    return string.Join(",", outputs.LogitsShape) + "|" + string.Join(",", outputs.Present4ValueShape) + "|"
                        + string.Join(",", present.GetTensorTypeAndShape().Shape) + "|" + model.UsesCuda + "|" + best;
                }

                public static string CudaStrict(string modelPath)
                {
                    try
                    {
                        using var model = StoryModel.CreateWithCuda(modelPath, 0, fallbackToCpu: false);
                        return "cuda:" + model.UsesCuda;
                    }
                    catch (EntryPointNotFoundException)
                    {
                        return "no CUDA entry point";
                    }
                    catch (OnnxRuntimeException)
                    {
                        return "CUDA unavailable";
                    }
                }

                public static string MissingInput(string modelPath)
                {
                    using var model = new StoryModel(modelPath, new SessionOptions());
                    using var inputs = new StoryModel.Inputs().SetInputIds(new long[] { 1 }, 1, 1);
                    try
                    {
                        using var outputs = model.Run(inputs);
                        return "no exception";
                    }
                    catch (InvalidOperationException ex)
                    {
                        return ex.Message;
                    }
                }

                public static string Members()
                {
                    // Overload resolution: null binds to the SessionOptions constructor, not the path one.
                    Func<StoryModel> a = () => new StoryModel(null);
                    Func<StoryModel> b = () => StoryModel.CreateWithCuda();
                    Func<StoryModel> c = () => StoryModel.CreateWithCuda(1, false);
                    InferenceSession? session = null;
                    Func<InferenceSession> d = () => new StoryModel().Session;
                    _ = a; _ = b; _ = c; _ = d; _ = session;
                    return StoryModel.ModelPath + "|" + StoryModel.NumLayers + "|" + StoryModel.BosTokenId + "|" + StoryModel.EosTokenId;
                }
            }
        }
        """;

    public const string Classifier = """
        using System;
        using Microsoft.ML.OnnxRuntime;

        namespace Demo.App
        {
            internal static class ClassifierDriver
            {
                public static float[] Scores(string modelPath, float[] pixels, int batch)
                {
                    using var model = new Demo.Vision.ImageClassifier(modelPath);
                    using var inputs = new Demo.Vision.ImageClassifier.Inputs().SetPixelValues(pixels, batch, 3, 224, 224);
                    using var outputs = model.Run(inputs);
                    ReadOnlySpan<Float16> scores = outputs.ClassScoresData;
                    var result = new float[scores.Length];
                    for (int i = 0; i < result.Length; i++)
                    {
                        result[i] = (float)scores[i];
                    }

                    return result;
                }

                public static string ShapeError(string modelPath)
                {
                    using var inputs = new Demo.Vision.ImageClassifier.Inputs();
                    try
                    {
                        inputs.SetPixelValues(new float[3 * 224 * 224], 1, 3, 224, 223);
                        return "no exception";
                    }
                    catch (ArgumentException ex)
                    {
                        return ex.Message;
                    }
                }

                public static string Path() => Demo.Vision.ImageClassifier.ModelPath;
            }
        }
        """;
}

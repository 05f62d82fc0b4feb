using System.Runtime.CompilerServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace ModelCompiler.Runtime;

/// <summary>
/// Generates tokens with a decoder session under a <see cref="DecoderContract"/>: the prompt runs in one step, then one
/// token per step, reusing the <see cref="KeyValueCache"/>. Thread-safe: every call has its own cache and RunOptions.
/// </summary>
public sealed class TokenGenerator
{
    private readonly InferenceSession _session;

    /// <summary>A generator over <paramref name="session"/>, which the caller keeps owning.</summary>
    public TokenGenerator(InferenceSession session, DecoderContract contract)
    {
        _session = session ?? throw new ArgumentNullException(nameof(session));
        Contract = contract ?? throw new ArgumentNullException(nameof(contract));
    }

    /// <summary>The decoder's contract.</summary>
    public DecoderContract Contract { get; }

    /// <summary>Generates up to <paramref name="maxNewTokens"/> tokens, always the most likely one; stops at an end-of-sequence token (not returned).</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; a running step is terminated through RunOptions.</exception>
    public long[] GenerateGreedy(ReadOnlySpan<long> prompt, int maxNewTokens, CancellationToken cancellationToken = default)
    {
        Validate(prompt.Length, maxNewTokens);
        var generated = new List<long>(Math.Min(maxNewTokens, 1024));
        if (maxNewTokens == 0)
        {
            return [];
        }

        using var cache = new KeyValueCache(Contract);
        using var runOptions = new RunOptions();
        using var registration = cancellationToken.Register(static o => ((RunOptions)o!).Terminate = true, runOptions);
        long[] tokens = prompt.ToArray();
        var stop = new HashSet<long>(Contract.EosTokenIds);
        while (generated.Count < maxNewTokens && Fits(cache, tokens.Length))
        {
            float[] logits = Step(tokens, cache, runOptions, cancellationToken);
            long next = TokenSampler.ArgMax(logits);
            if (stop.Contains(next))
            {
                break;
            }

            generated.Add(next);
            tokens = [next];
        }

        return generated.ToArray();
    }

    /// <summary>
    /// Streams up to <paramref name="maxNewTokens"/> tokens chosen under <paramref name="options"/> (greedy when <see langword="null"/>);
    /// stops at an end-of-sequence or stop token (not returned). Each step runs on the thread pool.
    /// </summary>
    public async IAsyncEnumerable<long> GenerateAsync(
        ReadOnlyMemory<long> prompt,
        int maxNewTokens,
        GenerationOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        Validate(prompt.Length, maxNewTokens);
        var sampler = new TokenSampler(options);
        var stop = new HashSet<long>(Contract.EosTokenIds);
        stop.UnionWith(options?.StopTokens ?? []);
        using var cache = new KeyValueCache(Contract);
        using var runOptions = new RunOptions();
        using var registration = cancellationToken.Register(static o => ((RunOptions)o!).Terminate = true, runOptions);
        long[] tokens = prompt.ToArray();
        for (int produced = 0; produced < maxNewTokens && Fits(cache, tokens.Length); produced++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var input = tokens;
            float[] logits = await Task.Run(() => Step(input, cache, runOptions, cancellationToken), cancellationToken).ConfigureAwait(false);
            long next = sampler.Next(logits);
            if (stop.Contains(next))
            {
                yield break;
            }

            yield return next;
            tokens = [next];
        }
    }

    /// <summary>
    /// Runs one step: feeds <paramref name="tokens"/> after the cache's past, advances the cache, and returns the logits of the last position as float.
    /// </summary>
    public float[] Step(ReadOnlySpan<long> tokens, KeyValueCache cache, RunOptions runOptions, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(runOptions);
        if (tokens.IsEmpty)
        {
            throw new ArgumentException("A step needs at least one token.", nameof(tokens));
        }

        cancellationToken.ThrowIfCancellationRequested();
        int count = tokens.Length;
        long past = cache.PastLength;
        long total = past + count;
        var owned = new List<OrtValue>();
        var values = new OrtValue[Contract.Inputs.Count];
        try
        {
            for (int i = 0; i < values.Length; i++)
            {
                var input = Contract.Inputs[i];
                OrtValue? value = input.Kind switch
                {
                    DecoderInputKind.InputIds => Integers(input.ElementType, [1, count], _ => 0, tokens),
                    DecoderInputKind.AttentionMask => Integers(input.ElementType, [1, total], _ => 1, default),
                    DecoderInputKind.PositionIds => Integers(input.ElementType, [1, count], j => past + j, default),
                    DecoderInputKind.SeqlensK => Integers(input.ElementType, [1], _ => total - 1, default),
                    DecoderInputKind.TotalSequenceLength => Integers(input.ElementType, input.Rank == 0 ? [] : [1], _ => total, default),
                    DecoderInputKind.UseCacheBranch => OrtValue.CreateTensorValueFromMemory(new[] { past > 0 }, input.Rank == 0 ? [] : [1L]),
                    _ => null,
                };
                if (value is null)
                {
                    values[i] = cache[Contract.StateSlots[i]];
                }
                else
                {
                    owned.Add(value);
                    values[i] = value;
                }
            }

            IDisposableReadOnlyCollection<OrtValue> results;
            try
            {
                results = _session.Run(runOptions, Contract.InputNames, values, Contract.OutputNames);
            }
            catch (OnnxRuntimeException) when (cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException("Generation was cancelled.", cancellationToken);
            }

            float[] logits;
            try
            {
                logits = LastLogits(results[0]);
            }
            catch
            {
                results.Dispose();
                throw;
            }

            // The state outputs now belong to the cache; only the logits are released here.
            results[0].Dispose();
            cache.Advance(results, count);
            return logits;
        }
        finally
        {
            foreach (var value in owned)
            {
                value.Dispose();
            }
        }
    }

    /// <summary>The logits of the last position of a [batch, sequence, vocabulary] tensor (batch 1), converted to float.</summary>
    public static float[] LastLogits(OrtValue logits)
    {
        ArgumentNullException.ThrowIfNull(logits);
        var info = logits.GetTensorTypeAndShape();
        long[] shape = info.Shape;
        long vocab = shape.Length == 0 ? 0 : shape[^1];
        if (vocab <= 0 || vocab > info.ElementCount)
        {
            throw new InvalidOperationException("The model returned logits without a vocabulary dimension.");
        }

        int start = checked((int)(info.ElementCount - vocab));
        var result = new float[vocab];
        switch (info.ElementDataType)
        {
            case TensorElementType.Float:
                logits.GetTensorDataAsSpan<float>().Slice(start).CopyTo(result);
                break;
            case TensorElementType.Float16:
            {
                var data = logits.GetTensorDataAsSpan<Float16>().Slice(start);
                for (int i = 0; i < result.Length; i++)
                {
                    result[i] = data[i].ToFloat();
                }

                break;
            }

            case TensorElementType.BFloat16:
            {
                var data = logits.GetTensorDataAsSpan<BFloat16>().Slice(start);
                for (int i = 0; i < result.Length; i++)
                {
                    result[i] = data[i].ToFloat();
                }

                break;
            }

            case TensorElementType.Double:
            {
                var data = logits.GetTensorDataAsSpan<double>().Slice(start);
                for (int i = 0; i < result.Length; i++)
                {
                    result[i] = (float)data[i];
                }

                break;
            }

            default:
                throw new InvalidOperationException($"The model returned logits of type {info.ElementDataType}, not a floating-point type.");
        }

        return result;
    }

    private bool Fits(KeyValueCache cache, int newTokens)
        => Contract.MaxPositions is not long max || cache.PastLength + newTokens <= max;

    private void Validate(int promptLength, int maxNewTokens)
    {
        if (promptLength == 0)
        {
            throw new ArgumentException("The prompt must contain at least one token.", "prompt");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(maxNewTokens);
        if (Contract.MaxPositions is long max && promptLength > max)
        {
            throw new ArgumentException($"The prompt is longer than the model's maximum sequence length ({max} tokens).", "prompt");
        }
    }

    // An int32 or int64 tensor: the tokens when given, else value(j) for each element j.
    private static OrtValue Integers(TensorElementType type, long[] shape, Func<long, long> value, ReadOnlySpan<long> tokens)
    {
        long n = 1;
        foreach (long d in shape)
        {
            n *= d;
        }

        if (type == TensorElementType.Int64)
        {
            var data = new long[n];
            for (long j = 0; j < n; j++)
            {
                data[j] = tokens.IsEmpty ? value(j) : tokens[(int)j];
            }

            return OrtValue.CreateTensorValueFromMemory(data, shape);
        }

        if (type == TensorElementType.Int32)
        {
            var data = new int[n];
            for (long j = 0; j < n; j++)
            {
                data[j] = checked((int)(tokens.IsEmpty ? value(j) : tokens[(int)j]));
            }

            return OrtValue.CreateTensorValueFromMemory(data, shape);
        }

        throw new InvalidOperationException($"An id, mask or position input must be int32 or int64, not {type}.");
    }
}

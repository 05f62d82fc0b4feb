using System.Collections;
using Microsoft.ML.OnnxRuntime;

namespace ModelCompiler.Runtime;

/// <summary>
/// A decoder's recurrent states (its key/value cache and any other state) between steps, one <see cref="OrtValue"/>
/// per state in graph order; index <c>i</c> is <see cref="DecoderContract.States"/>[i]. The cache owns the values.
/// </summary>
public sealed class KeyValueCache : IReadOnlyList<OrtValue>, IDisposable
{
    private readonly OrtValue[] _values;
    private bool _disposed;

    /// <summary>A cache holding the first step's states: zeros of each state's initial shape.</summary>
    public KeyValueCache(DecoderContract contract)
    {
        ArgumentNullException.ThrowIfNull(contract);
        Contract = contract;
        _values = new OrtValue[contract.States.Count];
        try
        {
            for (int i = 0; i < _values.Length; i++)
            {
                var state = contract.States[i];
                var value = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, state.ElementType, state.InitialShape);
                _values[i] = value;
                value.GetTensorMutableRawData().Clear();
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The decoder this cache belongs to.</summary>
    public DecoderContract Contract { get; }

    /// <summary>How many tokens the cache holds (the past length of the next step).</summary>
    public long PastLength { get; private set; }

    /// <inheritdoc/>
    public int Count => _values.Length;

    /// <summary>The state for <see cref="DecoderContract.States"/>[<paramref name="index"/>]; valid until the next step or disposal.</summary>
    public OrtValue this[int index]
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _values[index];
        }
    }

    /// <summary>The graph input name of state <paramref name="index"/>.</summary>
    public string InputName(int index) => Contract.States[index].Input;

    /// <inheritdoc/>
    public IEnumerator<OrtValue> GetEnumerator() => ((IEnumerable<OrtValue>)_values).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Takes a step's state outputs (results[1..]) as the new cache; disposes the old values.</summary>
    internal void Advance(IReadOnlyList<OrtValue> results, long newTokens)
    {
        for (int i = 0; i < _values.Length; i++)
        {
            _values[i]?.Dispose();
            _values[i] = results[i + 1];
        }

        PastLength += newTokens;
    }

    /// <summary>Releases the native memory of every state.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var value in _values)
        {
            value?.Dispose();
        }
    }
}

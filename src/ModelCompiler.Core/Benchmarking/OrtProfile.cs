using System.Text.Json;

namespace ModelCompiler.Benchmarking;

/// <summary>Kernel time of one operator type in an ONNX Runtime profile.</summary>
public sealed record OpTime(string OpType, double Microseconds, int Calls, double Share);

/// <summary>
/// Reads the Chrome-trace JSON that ONNX Runtime writes with <c>SessionOptions.EnableProfiling</c> and sums the
/// kernel time ("Node" events named <c>*_kernel_time</c>) per operator type, largest first.
/// </summary>
public static class OrtProfile
{
    public static IReadOnlyList<OpTime> ByOpType(string profileJson)
    {
        using var stream = File.OpenRead(profileJson);
        using var doc = JsonDocument.Parse(stream);
        var totals = new Dictionary<string, (double Us, int Calls)>(StringComparer.Ordinal);
        foreach (var e in doc.RootElement.EnumerateArray())
        {
            if (!e.TryGetProperty("cat", out var cat) || cat.GetString() != "Node") continue;
            if (!e.TryGetProperty("name", out var name) || name.GetString()?.EndsWith("_kernel_time", StringComparison.Ordinal) != true) continue;
            if (!e.TryGetProperty("args", out var args) || !args.TryGetProperty("op_name", out var op)) continue;
            var key = op.GetString() ?? "?";
            var dur = e.TryGetProperty("dur", out var d) ? d.GetDouble() : 0;
            totals[key] = totals.TryGetValue(key, out var t) ? (t.Us + dur, t.Calls + 1) : (dur, 1);
        }
        var all = totals.Values.Sum(t => t.Us);
        return totals.Select(kv => new OpTime(kv.Key, kv.Value.Us, kv.Value.Calls, all > 0 ? kv.Value.Us / all : 0))
            .OrderByDescending(o => o.Microseconds).ThenBy(o => o.OpType, StringComparer.Ordinal).ToList();
    }
}

using System.Reflection;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;

namespace ModelCompiler.Runtime;

/// <summary>Execution providers modelc knows, and how to ask ONNX Runtime for them.</summary>
public static class ExecutionProviders
{
    public const string Cpu = "cpu";
    public const string Cuda = "cuda";
    public static IReadOnlyList<string> Known { get; } = [Cpu, Cuda];

    /// <summary>Environment variable naming a CUDA-enabled onnxruntime native library (same ORT version).</summary>
    public const string NativeLibraryVariable = "MODELC_ORT_NATIVE";

    private static string? _nativeOverride;
    private static bool _resolverSet;

    /// <summary>
    /// Points the ONNX Runtime managed API at another native library (e.g. libonnxruntime.so from the
    /// Microsoft.ML.OnnxRuntime.Gpu package), so CUDA can be validated without rebuilding modelc.
    /// Must run before the first ONNX Runtime call in the process.
    /// </summary>
    public static void UseNativeLibrary(string? path)
    {
        path = string.IsNullOrWhiteSpace(path) ? Environment.GetEnvironmentVariable(NativeLibraryVariable) : path;
        if (string.IsNullOrWhiteSpace(path)) return;
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
            throw new ModelCompilerException("MC3002", $"the ONNX Runtime native library given by --ort-native or {NativeLibraryVariable} does not exist.", full);
        try
        {
            NativeLibrary.Free(NativeLibrary.Load(full)); // fail here, with the file named, not at the first session
        }
        catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
        {
            throw new ModelCompilerException("MC3002", $"cannot load the ONNX Runtime native library given by --ort-native or {NativeLibraryVariable}: {e.Message.ReplaceLineEndings(" ").Trim()}", full, inner: e);
        }
        _nativeOverride = full;
        if (_resolverSet) return;
        _resolverSet = true;
        NativeLibrary.SetDllImportResolver(typeof(InferenceSession).Assembly, (name, assembly, searchPath) =>
            _nativeOverride is not null && name.Contains("onnxruntime", StringComparison.OrdinalIgnoreCase) && !name.Contains("providers", StringComparison.OrdinalIgnoreCase)
                ? NativeLibrary.Load(_nativeOverride)
                : IntPtr.Zero);
    }

    public static string? NativeLibraryOverride => _nativeOverride;

    /// <summary>
    /// Session options for <paramref name="provider"/>, or null with a reason when this ONNX Runtime build
    /// cannot provide it (the CPU package has no CUDA entry point at all).
    /// </summary>
    public static SessionOptions? TryCreate(string provider, out string? unavailableReason, int deviceId = 0)
    {
        unavailableReason = null;
        // ORT's own log lines would duplicate our diagnostics on stderr; failures surface as exceptions anyway.
        var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL };
        if (provider == Cpu) return options;
        if (provider != Cuda)
        {
            options.Dispose();
            throw new ArgumentException($"unknown execution provider '{provider}'", nameof(provider));
        }
        try
        {
            options.AppendExecutionProvider_CUDA(deviceId);
            return options;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or OnnxRuntimeException or DllNotFoundException)
        {
            options.Dispose();
            unavailableReason = e is EntryPointNotFoundException
                ? $"this ONNX Runtime native library has no CUDA execution provider; point modelc at a CUDA-enabled one with --ort-native or {NativeLibraryVariable}"
                : e.Message.Trim();
            return null;
        }
    }

    public static SessionOptions Create(string provider, string file)
    {
        var o = TryCreate(provider, out var reason);
        return o ?? throw new ModelCompilerException("MC3003", $"execution provider '{provider}' is unavailable: {reason}.", file);
    }

    public static string OrtVersion =>
        typeof(InferenceSession).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "unknown";
}

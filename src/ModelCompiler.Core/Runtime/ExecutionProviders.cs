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
        string? nativeVersion;
        try
        {
            // Fail here, with the file named, not at the first session.
            var handle = NativeLibrary.Load(full);
            try
            {
                nativeVersion = NativeVersion(handle);
            }
            finally
            {
                NativeLibrary.Free(handle);
            }
        }
        catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
        {
            throw new ModelCompilerException("MC3002", $"cannot load the ONNX Runtime native library given by --ort-native or {NativeLibraryVariable}: {e.Message.ReplaceLineEndings(" ").Trim()}", full, inner: e);
        }
        if (nativeVersion is null)
            throw new ModelCompilerException("MC3002", $"the library given by --ort-native or {NativeLibraryVariable} is not an ONNX Runtime native library (it has no OrtGetApiBase).", full);
        if (VersionMismatch(nativeVersion, OrtVersion) is { } mismatch)
            throw new ModelCompilerException("MC3002", mismatch, full);
        _nativeOverride = full;
        NativeLibraryOverrideVersion = nativeVersion;
        if (_resolverSet) return;
        _resolverSet = true;
        NativeLibrary.SetDllImportResolver(typeof(InferenceSession).Assembly, (name, assembly, searchPath) =>
            _nativeOverride is not null && name.Contains("onnxruntime", StringComparison.OrdinalIgnoreCase) && !name.Contains("providers", StringComparison.OrdinalIgnoreCase)
                ? NativeLibrary.Load(_nativeOverride)
                : IntPtr.Zero);
    }

    public static string? NativeLibraryOverride => _nativeOverride;

    /// <summary>The version the overriding native library reports (OrtGetApiBase()->GetVersionString()).</summary>
    public static string? NativeLibraryOverrideVersion { get; private set; }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate IntPtr OrtGetApiBaseFn();

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate IntPtr OrtGetVersionStringFn();

    /// <summary>OrtGetApiBase()->GetVersionString() of a loaded onnxruntime library; null when it is not one.</summary>
    private static string? NativeVersion(IntPtr library)
    {
        if (!NativeLibrary.TryGetExport(library, "OrtGetApiBase", out var getApiBase)) return null;
        var apiBase = Marshal.GetDelegateForFunctionPointer<OrtGetApiBaseFn>(getApiBase)();
        if (apiBase == IntPtr.Zero) return null;
        // struct OrtApiBase { const OrtApi* (*GetApi)(uint32_t); const char* (*GetVersionString)(void); }
        var getVersion = Marshal.ReadIntPtr(apiBase, IntPtr.Size);
        return Marshal.PtrToStringUTF8(Marshal.GetDelegateForFunctionPointer<OrtGetVersionStringFn>(getVersion)());
    }

    /// <summary>
    /// The MC3002 message when a native library of version <paramref name="native"/> cannot serve the managed ONNX
    /// Runtime <paramref name="managed"/>; null when it can. The C API the managed side asks for (ORT_API_VERSION)
    /// changes with each minor release and patch releases share it, so 1.31.0's native library serves 1.31.1.
    /// </summary>
    public static string? VersionMismatch(string native, string managed) =>
        MajorMinor(native) == MajorMinor(managed) ? null
            : $"the ONNX Runtime native library given by --ort-native or {NativeLibraryVariable} is version {native}, but modelc runs ONNX Runtime {managed} (managed): use the native library of an ONNX Runtime {MajorMinor(managed)}.x package (e.g. Microsoft.ML.OnnxRuntime.Gpu {MajorMinor(managed)}.x)";

    private static string MajorMinor(string version) => string.Join('.', version.Split('.', '-', '+').Take(2));

    /// <summary>
    /// What ONNX Runtime 1.31's CUDA provider loads at run time (libonnxruntime_providers_cuda's dependencies, and
    /// cuDNN, which it opens itself): the NVIDIA driver, CUDA 13 runtime, cuBLAS, cuRAND, and cuDNN 9.
    /// </summary>
    public static IReadOnlyList<(string Library, string Provides)> CudaLibraries { get; } = OperatingSystem.IsWindows()
        ? [("nvcuda.dll", "the NVIDIA driver"), ("cudart64_13.dll", "CUDA 13 runtime"), ("cublas64_13.dll", "cuBLAS 13"),
           ("cublasLt64_13.dll", "cuBLASLt 13"), ("curand64_10.dll", "cuRAND 10, CUDA 13"), ("cudnn64_9.dll", "cuDNN 9")]
        : [("libcuda.so.1", "the NVIDIA driver"), ("libcudart.so.13", "CUDA 13 runtime"), ("libcublas.so.13", "cuBLAS 13"),
           ("libcublasLt.so.13", "cuBLASLt 13"), ("libcurand.so.10", "cuRAND 10, CUDA 13"), ("libcudnn.so.9", "cuDNN 9")];

    /// <summary>
    /// Why CUDA cannot start with the overriding native library, probed before the provider is appended (ORT itself
    /// says only "Failed to load shared library"): its CUDA provider library is missing, or CUDA libraries it needs
    /// are not on the loader's search path. Null when everything loads, or without an override (the CPU package has
    /// no CUDA entry point: TryCreate says so).
    /// </summary>
    public static string? MissingCudaDependencies(Func<string, bool>? canLoad = null)
    {
        if (_nativeOverride is null) return null;
        var folder = Path.GetDirectoryName(_nativeOverride)!;
        var provider = Path.Combine(folder, OperatingSystem.IsWindows() ? "onnxruntime_providers_cuda.dll"
            : OperatingSystem.IsMacOS() ? "libonnxruntime_providers_cuda.dylib" : "libonnxruntime_providers_cuda.so");
        if (!File.Exists(provider))
            return $"the ONNX Runtime native library {_nativeOverride} has no CUDA provider beside it ({Path.GetFileName(provider)} is missing): use the one from the Microsoft.ML.OnnxRuntime.Gpu package";
        canLoad ??= TryLoad;
        var missing = CudaLibraries.Where(l => !canLoad(l.Library)).ToList();
        if (missing.Count == 0) return null;
        return $"CUDA cannot start: {string.Join(", ", missing.Select(m => $"{m.Library} ({m.Provides})"))} not found on this machine's library path; ONNX Runtime {NativeLibraryOverrideVersion ?? OrtVersion}'s CUDA provider needs CUDA 13 and cuDNN 9 (install them, or add their folder to {(OperatingSystem.IsWindows() ? "PATH" : "LD_LIBRARY_PATH")})";
    }

    private static bool TryLoad(string library)
    {
        if (!NativeLibrary.TryLoad(library, out var handle)) return false;
        NativeLibrary.Free(handle);
        return true;
    }

    /// <summary>
    /// Environment variable with ORT session settings to measure (docs/performance.md), <c>key=value</c> pairs
    /// separated by <c>;</c>: <c>session.*</c> keys are session config entries (e.g. <c>session.disable_prepacking=1</c>),
    /// <c>cpu_mem_arena=0</c> and <c>mem_pattern=0</c> turn off the CPU arena and memory patterns. None of them changes results.
    /// </summary>
    public const string TuningVariable = "MODELC_ORT_TUNING";

    internal static void ApplyTuning(SessionOptions options, string? tuning)
    {
        if (string.IsNullOrWhiteSpace(tuning)) return;
        foreach (var pair in tuning.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = pair.IndexOf('=');
            var (key, value) = eq > 0 ? (pair[..eq].Trim(), pair[(eq + 1)..].Trim()) : (pair, "1");
            switch (key)
            {
                case "cpu_mem_arena": options.EnableCpuMemArena = value != "0"; break;
                case "mem_pattern": options.EnableMemoryPattern = value != "0"; break;
                case var k when k.StartsWith("session.", StringComparison.Ordinal): options.AddSessionConfigEntry(k, value); break;
                default:
                    throw new ModelCompilerException("MC3090", $"{TuningVariable}: unknown setting '{key}' (use session.* config keys, cpu_mem_arena or mem_pattern).");
            }
        }
    }

    /// <summary>
    /// Session options for <paramref name="provider"/>, or null with a reason when this ONNX Runtime build
    /// cannot provide it (the CPU package has no CUDA entry point at all).
    /// </summary>
    public static SessionOptions? TryCreate(string provider, out string? unavailableReason, int deviceId = 0)
    {
        unavailableReason = null;
        // ORT's own log lines would duplicate our diagnostics on stderr; failures surface as exceptions anyway.
        var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL };
        ApplyTuning(options, Environment.GetEnvironmentVariable(TuningVariable));
        if (provider == Cpu) return options;
        if (provider != Cuda)
        {
            options.Dispose();
            throw new ArgumentException($"unknown execution provider '{provider}'", nameof(provider));
        }
        if (MissingCudaDependencies() is { } missing)
        {
            options.Dispose();
            unavailableReason = missing;
            return null;
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

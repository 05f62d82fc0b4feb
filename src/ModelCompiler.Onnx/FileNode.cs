using System.Runtime.InteropServices;

namespace ModelCompiler.Onnx;

/// <summary>What a path names, after following symlinks.</summary>
public enum FileKind { Missing, Regular, Directory, Other }

/// <summary>The identity of a file: device and inode on Unix (the same for every hard link and symlink to it), the
/// full path on Windows.</summary>
public readonly record struct FileId(ulong Device, ulong Inode, string? WindowsPath);

/// <summary>
/// stat(2) and realpath(3) for the checks .NET does not expose: file identity (device + inode), whether a path is a
/// regular file (a FIFO must be refused before it is opened, or the open blocks), and the real path of a symlink chain.
/// </summary>
public static class FileNode
{
    /// <summary>Identity and kind of <paramref name="path"/>, following symlinks; <see cref="FileKind.Missing"/> when it does not exist.</summary>
    public static (FileKind Kind, FileId Id) Stat(string path)
    {
        var full = Path.GetFullPath(path);
        if (OperatingSystem.IsWindows())
        {
            var id = new FileId(0, 0, full.ToUpperInvariant());
            if (Directory.Exists(full)) return (FileKind.Directory, id);
            return (File.Exists(full) ? FileKind.Regular : FileKind.Missing, id);
        }
        var buffer = new byte[512];
        if (Native.stat(full, buffer) != 0) return (FileKind.Missing, default);
        ulong dev, ino;
        uint mode;
        if (OperatingSystem.IsMacOS())
        {
            dev = (uint)BitConverter.ToInt32(buffer, 0);
            mode = BitConverter.ToUInt16(buffer, 4);
            ino = BitConverter.ToUInt64(buffer, 8);
        }
        else
        {
            // Linux: st_dev, st_ino first on every 64-bit ABI; st_mode after st_nlink (8 bytes) on x86-64, before it elsewhere.
            dev = BitConverter.ToUInt64(buffer, 0);
            ino = BitConverter.ToUInt64(buffer, 8);
            mode = BitConverter.ToUInt32(buffer, RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 24 : 16);
        }
        var kind = (mode & 0xF000) switch { 0x8000 => FileKind.Regular, 0x4000 => FileKind.Directory, _ => FileKind.Other };
        return (kind, new FileId(dev, ino, null));
    }

    /// <summary>The path with every symlink resolved (realpath(3)); the full path when it does not exist.</summary>
    public static string RealPath(string path)
    {
        var full = Path.GetFullPath(path);
        if (OperatingSystem.IsWindows())
            return new FileInfo(full).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? full;
        var p = Native.realpath(full, IntPtr.Zero);
        if (p == IntPtr.Zero) return full;
        try { return Marshal.PtrToStringUTF8(p) ?? full; }
        finally { Native.free(p); }
    }

    private static class Native
    {
        [DllImport("libc", SetLastError = true)]
        internal static extern int stat([MarshalAs(UnmanagedType.LPUTF8Str)] string path, byte[] buffer);

        [DllImport("libc", SetLastError = true)]
        internal static extern IntPtr realpath([MarshalAs(UnmanagedType.LPUTF8Str)] string path, IntPtr resolved);

        [DllImport("libc")]
        internal static extern void free(IntPtr p);
    }
}

using System.Runtime.InteropServices;

namespace DetSharp.Utils;

/// <summary>
/// How the C heap that libtorch allocates tensors from gives memory back to the system. glibc's malloc serves a block of
/// 128 KiB or more with its own mmap, unmapped when freed — but each time such a block is freed it raises that threshold
/// to the block's size (up to 32 MiB), after which tensors of a few MiB come from the heap arenas, whose free space stays
/// resident and fragments as the sizes change from image to image. A Mask R-CNN R-50 training process at 1333×800 then
/// peaks 1.3–1.7 GiB higher than its live tensors need (issue 26: 5.95 against 4.61 GiB). Setting the threshold
/// (<c>mallopt(M_MMAP_THRESHOLD)</c>) to glibc's own initial 128 KiB turns the raising off.
/// </summary>
public static partial class NativeHeap
{
    /// <summary>glibc's initial mmap threshold, kept fixed.</summary>
    public const int MmapThresholdBytes = 128 * 1024;

    private const int MMmapThreshold = -3;
    private static readonly Lazy<bool> Configured = new(Configure);

    /// <summary>
    /// Fixes glibc's mmap threshold at <see cref="MmapThresholdBytes"/> for this process (once; later calls return the
    /// first result). Leaves malloc as it is — and returns false — off glibc, and where the user chose a threshold
    /// (<c>MALLOC_MMAP_THRESHOLD_</c>, or <c>glibc.malloc.mmap_threshold</c> in <c>GLIBC_TUNABLES</c>). The CLI calls it at
    /// start, and <see cref="Apis.TrainDetector"/> before a training run; an application that runs inference alone may
    /// call it first thing.
    /// </summary>
    public static bool KeepLargeBlocksMapped() => Configured.Value;

    private static bool Configure()
    {
        if (!OperatingSystem.IsLinux()) return false;
        if (Environment.GetEnvironmentVariable("MALLOC_MMAP_THRESHOLD_") is not null) return false;
        if (Environment.GetEnvironmentVariable("GLIBC_TUNABLES")?.Contains("glibc.malloc.mmap_threshold", StringComparison.Ordinal) == true) return false;
        try
        {
            return Mallopt(MMmapThreshold, MmapThresholdBytes) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false; // musl and other C libraries: no mallopt, nothing to tune
        }
    }

    [LibraryImport("libc.so.6", EntryPoint = "mallopt")]
    private static partial int Mallopt(int param, int value);
}

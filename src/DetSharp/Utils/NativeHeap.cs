using System.Runtime.InteropServices;

namespace DetSharp.Utils;

/// <summary>
/// The C heap libtorch allocates CPU tensors from. glibc's malloc serves tensors of a few MiB from its arenas once a
/// freed mapped block has raised its mmap threshold (up to 32 MiB); what a forward pass frees there — activations of
/// every size, image to image — stays resident, in holes the next, differently sized tensors do not fit. Training
/// hands those pages back once per iteration, between forward and backward (<see cref="ReleaseFreeMemory"/>): Mask
/// R-CNN R-50 at 1333×800, batch 2, peaks at 3.51 instead of 4.06 GiB (float32; bfloat16 2.86 instead of 3.35) for the
/// same time per iteration (issue 26, bench/README.md). A fixed threshold (<c>mallopt(M_MMAP_THRESHOLD)</c>, every
/// tensor of 128 KiB or more mapped on its own) went lower still but cost 35% of the training time and 45% of the
/// inference time in page faults, so malloc's own policy stays.
/// </summary>
public static partial class NativeHeap
{
    /// <summary>
    /// Returns the free pages of every malloc arena to the system (glibc's <c>malloc_trim(0)</c>); true when some were.
    /// False, doing nothing, off Linux and where the C library has no <c>malloc_trim</c> (musl).
    /// </summary>
    public static bool ReleaseFreeMemory()
    {
        if (!OperatingSystem.IsLinux() || !_available) return false;
        try
        {
            return MallocTrim(0) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            _available = false;
            return false;
        }
    }

    private static bool _available = true;

    [LibraryImport("libc.so.6", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);
}

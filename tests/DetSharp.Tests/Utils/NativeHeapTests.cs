using System.Runtime.InteropServices;
using DetSharp.Tests.TestSupport;
using DetSharp.Utils;

namespace DetSharp.Tests.Utils;

/// <summary>
/// <see cref="NativeHeap.ReleaseFreeMemory"/>: a fragmented heap — blocks under the mmap threshold freed between small
/// blocks that stay alive, so free() can neither merge them into the heap's top nor unmap a heap — stays resident until it
/// is called, and leaves the resident set when it is. Process-wide: it reads the process's resident memory.
/// </summary>
[Collection(ProcessWideCollection.Name)]
public sealed class NativeHeapTests
{
    [Fact]
    public void Freed_heap_blocks_leave_the_resident_set_when_released()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.False(NativeHeap.ReleaseFreeMemory()); // nothing to do off glibc
            return;
        }
        const int blocks = 2048, size = 64 * 1024; // 128 MiB in blocks under glibc's initial 128 KiB mmap threshold
        var held = new nint[blocks];
        var pins = new nint[blocks];
        try
        {
            for (int i = 0; i < blocks; i++)
            {
                held[i] = Marshal.AllocHGlobal(size);
                for (int offset = 0; offset < size; offset += 4096) Marshal.WriteByte(held[i], offset, 1); // resident now
                pins[i] = Marshal.AllocHGlobal(64);
            }
            long before = ResidentBytes();
            for (int i = 0; i < blocks; i++) Marshal.FreeHGlobal(held[i]);
            long freed = ResidentBytes();
            Assert.True(NativeHeap.ReleaseFreeMemory());
            long released = ResidentBytes();
            Assert.True(before - freed < 32L << 20, $"free() alone returned {(before - freed) >> 20} MiB");
            Assert.True(freed - released > 96L << 20, $"ReleaseFreeMemory returned only {(freed - released) >> 20} MiB of the 128 MiB freed");
        }
        finally
        {
            foreach (var pin in pins)
                if (pin != 0) Marshal.FreeHGlobal(pin);
        }
    }

    /// <summary>VmRSS of this process.</summary>
    private static long ResidentBytes()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), System.Globalization.CultureInfo.InvariantCulture) * 1024;
        throw new InvalidOperationException("/proc/self/status has no VmRSS line");
    }
}

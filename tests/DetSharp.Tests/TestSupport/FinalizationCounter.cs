using System.Runtime.CompilerServices;

namespace DetSharp.Tests.TestSupport;

/// <summary>Garbage that counts its own finalization: shows when the finalizer thread ran (the FinalizerGate tests).</summary>
internal sealed class FinalizationCounter
{
    private int _count;

    /// <summary>How many probes made by <see cref="MakeGarbage"/> were finalized so far.</summary>
    public int Count => Volatile.Read(ref _count);

    public void Reset() => Interlocked.Exchange(ref _count, 0);

    /// <summary>Makes <paramref name="count"/> unreachable probes (in a frame of their own, so that none stays referenced).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public void MakeGarbage(int count)
    {
        for (int i = 0; i < count; i++) _ = new Probe(this);
    }

    private sealed class Probe(FinalizationCounter owner)
    {
        ~Probe() => Interlocked.Increment(ref owner._count);
    }
}

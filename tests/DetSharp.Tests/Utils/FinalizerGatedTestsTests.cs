using System.Runtime.CompilerServices;
using DetSharp.Tests.TestSupport;
using DetSharp.Utils;

namespace DetSharp.Tests.Utils;

/// <summary>What <see cref="FinalizerGatedTestsAttribute"/> promises every test outside the process-wide collection.</summary>
public class FinalizerGatedTestsTests
{
    private static int _finalized;

    private sealed class Probe
    {
        ~Probe() => Interlocked.Increment(ref _finalized);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void MakeGarbage(int count)
    {
        for (int i = 0; i < count; i++) _ = new Probe();
    }

    [Fact]
    public void A_test_runs_with_the_finalizer_thread_parked()
    {
        Assert.True(FinalizerGate.IsParked);
        int before = Volatile.Read(ref _finalized);
        MakeGarbage(50);
        GC.Collect();
        Thread.Sleep(300);
        Assert.Equal(before, Volatile.Read(ref _finalized));
    }
}

using System.Diagnostics;
using System.Runtime.CompilerServices;
using DetSharp.Tests.TestSupport;
using DetSharp.Utils;

namespace DetSharp.Tests.Utils;

/// <summary>The gate is process-wide, so these tests run alone (other tests' training loops mark safe points too).</summary>
[Collection(ProcessWideCollection.Name)]
public class FinalizerGateTests
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

    private static bool WaitFor(Func<bool> condition, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > timeout) return false;
            Thread.Sleep(10);
        }
        return true;
    }

    [Fact]
    public void Garbage_made_inside_a_region_is_finalized_only_at_a_safe_point()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Interlocked.Exchange(ref _finalized, 0);
        using (FinalizerGate.Enter())
        {
            Assert.True(FinalizerGate.IsParked);
            MakeGarbage(100);
            GC.Collect();
            Thread.Sleep(300);
            Assert.Equal(0, Volatile.Read(ref _finalized));

            FinalizerGate.SafePoint();
            Assert.True(WaitFor(() => Volatile.Read(ref _finalized) == 100, TimeSpan.FromSeconds(5)),
                $"{_finalized} of 100 finalized after the safe point");
            Assert.True(FinalizerGate.IsParked);

            MakeGarbage(10);
            GC.Collect();
            Thread.Sleep(200);
            Assert.Equal(100, Volatile.Read(ref _finalized));
        }
        // Leaving the region hands the finalizer thread back: the held garbage goes, and later garbage too.
        Assert.True(WaitFor(() => Volatile.Read(ref _finalized) == 110, TimeSpan.FromSeconds(5)));
        Assert.False(FinalizerGate.IsParked);
        MakeGarbage(5);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Assert.Equal(115, Volatile.Read(ref _finalized));
    }

    [Fact]
    public void A_flush_runs_the_queued_finalizers_inside_a_region_and_parks_again()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Interlocked.Exchange(ref _finalized, 0);
        using (FinalizerGate.Enter())
        {
            MakeGarbage(20);
            GC.Collect();
            Thread.Sleep(200);
            Assert.Equal(0, Volatile.Read(ref _finalized));

            // From another thread, as the test host's memory valve flushes while tests hold their regions.
            var flusher = new Thread(FinalizerGate.Flush);
            flusher.Start();
            Assert.True(flusher.Join(TimeSpan.FromSeconds(30)));
            Assert.Equal(20, Volatile.Read(ref _finalized));
            Assert.True(FinalizerGate.IsParked);

            MakeGarbage(5);
            GC.Collect();
            Thread.Sleep(200);
            Assert.Equal(20, Volatile.Read(ref _finalized));
        }
        Assert.True(WaitFor(() => Volatile.Read(ref _finalized) == 25, TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public void Nested_regions_keep_the_gate_until_the_outermost_is_left()
    {
        using (FinalizerGate.Enter())
        {
            using (FinalizerGate.Enter()) Assert.True(FinalizerGate.IsParked);
            Assert.True(FinalizerGate.IsParked);
        }
        Assert.True(WaitFor(() => !FinalizerGate.IsParked, TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public void An_owner_waiting_for_finalizers_is_let_through_instead_of_deadlocking()
    {
        // TorchSharp calls GC.WaitForPendingFinalizers when a native allocation fails; that must not hang.
        var saved = FinalizerGate.DeadlockTimeout;
        FinalizerGate.DeadlockTimeout = TimeSpan.FromMilliseconds(500);
        try
        {
            using (FinalizerGate.Enter())
            {
                MakeGarbage(10);
                GC.Collect();
                var sw = Stopwatch.StartNew();
                GC.WaitForPendingFinalizers();
                Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"waited {sw.Elapsed}");
                // The next safe point parks the finalizer thread again.
                FinalizerGate.SafePoint();
                Assert.True(FinalizerGate.IsParked);
            }
        }
        finally
        {
            FinalizerGate.DeadlockTimeout = saved;
        }
    }

    [Fact]
    public void A_safe_point_outside_a_region_does_nothing()
    {
        FinalizerGate.SafePoint();
        Assert.False(FinalizerGate.IsParked);
    }
}

using System.Diagnostics;
using DetSharp.Tests.TestSupport;
using DetSharp.Utils;

namespace DetSharp.Tests.Utils;

/// <summary>The gate is process-wide, so these tests run alone (other tests' training loops mark safe points too).</summary>
[Collection(ProcessWideCollection.Name)]
public class FinalizerGateTests
{
    private static readonly FinalizationCounter Probes = new();

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
        Probes.Reset();
        using (FinalizerGate.Enter())
        {
            Assert.True(FinalizerGate.IsParked);
            Probes.MakeGarbage(100);
            GC.Collect();
            Thread.Sleep(300);
            Assert.Equal(0, Probes.Count);

            FinalizerGate.SafePoint();
            Assert.True(WaitFor(() => Probes.Count == 100, TimeSpan.FromSeconds(5)),
                $"{Probes.Count} of 100 finalized after the safe point");
            Assert.True(FinalizerGate.IsParked);

            Probes.MakeGarbage(10);
            GC.Collect();
            Thread.Sleep(200);
            Assert.Equal(100, Probes.Count);
        }
        // Leaving the region hands the finalizer thread back: the held garbage goes, and later garbage too.
        Assert.True(WaitFor(() => Probes.Count == 110, TimeSpan.FromSeconds(5)));
        Assert.False(FinalizerGate.IsParked);
        Probes.MakeGarbage(5);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Assert.Equal(115, Probes.Count);
    }

    [Fact]
    public void A_flush_runs_the_queued_finalizers_inside_a_region_and_parks_again()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Probes.Reset();
        using (FinalizerGate.Enter())
        {
            Probes.MakeGarbage(20);
            GC.Collect();
            Thread.Sleep(200);
            Assert.Equal(0, Probes.Count);

            // From another thread, as the test host's memory valve flushes while tests hold their regions.
            var flusher = new Thread(FinalizerGate.Flush);
            flusher.Start();
            Assert.True(flusher.Join(TimeSpan.FromSeconds(30)));
            Assert.Equal(20, Probes.Count);
            Assert.True(FinalizerGate.IsParked);

            Probes.MakeGarbage(5);
            GC.Collect();
            Thread.Sleep(200);
            Assert.Equal(20, Probes.Count);
        }
        Assert.True(WaitFor(() => Probes.Count == 25, TimeSpan.FromSeconds(5)));
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
                Probes.MakeGarbage(10);
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

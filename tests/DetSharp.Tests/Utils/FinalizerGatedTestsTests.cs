using DetSharp.Tests.TestSupport;
using DetSharp.Utils;

namespace DetSharp.Tests.Utils;

/// <summary>What <see cref="FinalizerGatedTestsAttribute"/> promises every test outside the process-wide collection.</summary>
public class FinalizerGatedTestsTests
{
    private static readonly FinalizationCounter Probes = new();

    [Fact]
    public void A_test_runs_with_the_finalizer_thread_parked()
    {
        Assert.True(FinalizerGate.IsParked);
        int before = Probes.Count;
        Probes.MakeGarbage(50);
        GC.Collect();
        Thread.Sleep(300);
        Assert.Equal(before, Probes.Count);
    }
}

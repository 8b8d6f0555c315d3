using System.Reflection;
using DetSharp.Utils;
using Xunit.Sdk;

[assembly: DetSharp.Tests.TestSupport.FinalizerGatedTests]

namespace DetSharp.Tests.TestSupport;

/// <summary>
/// Runs every test of this assembly inside a <see cref="FinalizerGate"/> region, as DetSharp's own loops run: test code
/// drives libtorch with implicit TorchSharp Scalars too (<c>1 / tensor</c>, <c>a + b</c>), and without the gate a garbage
/// collection started by the test running beside it lets the finalizer thread free a Scalar that libtorch is still
/// reading (the random "toLong/toFloat ... Expected false to be true" abort, seen in CI in <c>AnchorGenerator</c> while
/// <c>ZooStateDictTests</c> built models).
/// </summary>
/// <remarks>
/// Tests run two at a time, so the regions overlap and the finalizer thread runs when none is entered (between tests)
/// and when a memory valve opens: a timer that sees resident memory grown by <see cref="FlushGrowthBytes"/> since it last
/// opened (a test that builds hundreds of models leaves their garbage to the finalizers) or the gate given way runs the
/// queued finalizers at once (<see cref="FinalizerGate.Flush"/>) and parks the thread again — a few short unguarded
/// moments instead of a finalizer thread that runs at any time. The <see cref="ProcessWideCollection"/> runs alone and
/// manages the finalizer thread itself (its tests measure memory and the gate), so it is not gated here.
/// </remarks>
[AttributeUsage(AttributeTargets.Assembly)]
public sealed class FinalizerGatedTestsAttribute : BeforeAfterTestAttribute
{
    public const long FlushGrowthBytes = 512L << 20;

    private static readonly object Sync = new();
    private static readonly object EnterSync = new();
    private static readonly Dictionary<MethodInfo, FinalizerGate.Region> Regions = [];
    private static long _residentAfterFlush = Environment.WorkingSet;
    private static int _flushing;
    private static readonly Timer Valve = new(_ => OpenValveIfNeeded(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));

    static FinalizerGatedTestsAttribute()
    {
        // A test thread blocks for seconds at a time (joining rank threads, a data loader's queue); the production
        // five seconds would hand the finalizer thread back until the valve next opens. Nothing in a test waits for
        // finalizers.
        FinalizerGate.DeadlockTimeout = TimeSpan.FromSeconds(60);
    }

    public override void Before(MethodInfo methodUnderTest)
    {
        if (RunsAlone(methodUnderTest)) return;
        FinalizerGate.Region region;
        // One at a time: the first owner parks the finalizer thread inside Enter, and a second test must not start
        // before that has happened.
        lock (EnterSync) region = FinalizerGate.Enter();
        lock (Sync) Regions[methodUnderTest] = region;
        GC.KeepAlive(Valve);
    }

    public override void After(MethodInfo methodUnderTest)
    {
        FinalizerGate.Region region;
        lock (Sync)
        {
            if (!Regions.Remove(methodUnderTest, out region)) return;
        }
        region.Dispose();
    }

    private static void OpenValveIfNeeded()
    {
        if (Interlocked.Exchange(ref _flushing, 1) == 1) return;
        try
        {
            lock (Sync)
            {
                if (Regions.Count == 0) return;
            }
            if (FinalizerGate.IsParked && Environment.WorkingSet - Volatile.Read(ref _residentAfterFlush) < FlushGrowthBytes) return;
            lock (EnterSync) FinalizerGate.Flush();
            Volatile.Write(ref _residentAfterFlush, Environment.WorkingSet);
        }
        finally
        {
            Volatile.Write(ref _flushing, 0);
        }
    }

    private static bool RunsAlone(MethodInfo method)
    {
        foreach (var attribute in method.DeclaringType?.GetCustomAttributesData() ?? [])
        {
            if (attribute.AttributeType == typeof(CollectionAttribute) && attribute.ConstructorArguments.Count == 1
                && attribute.ConstructorArguments[0].Value is ProcessWideCollection.Name)
                return true;
        }
        return false;
    }
}

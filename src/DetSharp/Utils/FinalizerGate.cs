using System.Runtime.CompilerServices;

namespace DetSharp.Utils;

/// <summary>
/// Keeps the .NET finalizer thread away from libtorch while DetSharp drives it, letting finalizers run only at
/// safe points that the driving loop marks (between training iterations, between test images).
/// </summary>
/// <remarks>
/// Why: TorchSharp hands libtorch raw handles of <see cref="TorchSharp.Scalar"/> objects it converts implicitly
/// (the <c>alpha</c> of every <c>Tensor.add</c>, <c>add_(1)</c> in BatchNorm, the SGD step's coefficients). Once the
/// handle has been read, the JIT treats the Scalar as dead, so a garbage collection started by any other thread
/// (data-loader workers, the finalizer thread itself) can queue it, and the finalizer thread frees the native scalar
/// while libtorch is still reading it. Training then aborts at random with
/// <c>Expected false to be true ... toFloat (Scalar.h:140)</c> inside an add (observed after a few hundred to a few
/// thousand iterations; within a minute with <c>DOTNET_GCgen0size=0x100000</c>). TorchSharp 0.107 has no fix, so the
/// gate makes the finalizer thread wait inside a finalizer of ours (finalizers run one at a time on that thread)
/// until the owner says no libtorch call of its is in flight.
///
/// A gated region is entered with <see cref="Enter"/> (nestable; the outermost one parks the finalizer thread) and
/// the owner calls <see cref="SafePoint"/> where it holds no native call: everything queued so far is finalized
/// (the owner waits for it), then the thread parks again. If the owner blocks waiting for finalizers while the thread is parked (TorchSharp
/// calls <c>GC.WaitForPendingFinalizers</c> when a native allocation fails), the gate notices the owner has been
/// waiting for <see cref="DeadlockTimeout"/> and lets the finalizers run until the next safe point, so a failure
/// surfaces as its error rather than a hang.
/// </remarks>
public static class FinalizerGate
{
    private static readonly object Sync = new();
    private static readonly Dictionary<Thread, int> Owners = [];
    private static long _lastGeneration;
    private static long _releasedThrough;
    private static long _parked;

    /// <summary>How long an owner may sit in a wait while the finalizer thread is parked before the gate gives way.</summary>
    public static TimeSpan DeadlockTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>True while the finalizer thread is held by the gate.</summary>
    public static bool IsParked
    {
        get { lock (Sync) return _parked != 0; }
    }

    /// <summary>Enters a gated region on the calling thread; dispose the result on the same thread to leave it.</summary>
    public static Region Enter()
    {
        bool first;
        lock (Sync)
        {
            first = Owners.Count == 0;
            var me = Thread.CurrentThread;
            Owners[me] = Owners.GetValueOrDefault(me) + 1;
        }
        if (first) Park();
        return new Region(Thread.CurrentThread);
    }

    /// <summary>
    /// Lets every finalizer queued so far run, then parks the finalizer thread again. Call it only where the calling
    /// thread has no libtorch call in flight, e.g. at the top of a training iteration. A no-op outside a gated region
    /// and while another thread is inside one too (its calls may be in flight).
    /// </summary>
    public static void SafePoint()
    {
        lock (Sync)
        {
            if (Owners.Count != 1 || !Owners.ContainsKey(Thread.CurrentThread)) return;
        }
        Park();
    }

    /// <summary>
    /// Lets every finalizer found so far (after a full collection) run now, then parks the finalizer thread again — even
    /// while regions are entered, so unlike <see cref="SafePoint"/> it does not know that no libtorch call is in flight:
    /// the gate's protection is traded for memory for the moment the queue takes. For an owner that holds the gate so
    /// long that the garbage its finalizers would free piles up (a test host's regions span whole tests). A no-op outside
    /// any region.
    /// </summary>
    public static void Flush()
    {
        lock (Sync)
        {
            if (Owners.Count == 0) return;
        }
        GC.Collect();
        Park();
    }

    private static void Exit(Thread thread)
    {
        lock (Sync)
        {
            if (!Owners.TryGetValue(thread, out int depth))
                throw new InvalidOperationException("FinalizerGate: a region was left twice or on another thread.");
            if (depth > 1) { Owners[thread] = depth - 1; return; }
            Owners.Remove(thread);
            if (Owners.Count > 0) return;
            _releasedThrough = _lastGeneration;
            Monitor.PulseAll(Sync);
        }
    }

    private static void Park()
    {
        using var timed = Profiler.Scope(ProfilerSections.FinalizerGate);
        long generation;
        lock (Sync)
        {
            // Release the parker holding the thread and let it finalize everything queued so far. The queue is not
            // first-in first-out, so the next parker is queued only once it is empty.
            _releasedThrough = _lastGeneration;
            Monitor.PulseAll(Sync);
            generation = ++_lastGeneration;
        }
        GC.WaitForPendingFinalizers();
        QueueParker(generation);
        GC.Collect(0, GCCollectionMode.Forced, blocking: true);
        lock (Sync)
        {
            if (WaitParked(generation, TimeSpan.FromSeconds(2))) return;
        }
        // The parker outlived the gen-0 collection (an earlier collection had promoted it): collect every generation.
        GC.Collect();
        lock (Sync)
        {
            if (WaitParked(generation, TimeSpan.FromSeconds(30))) return;
            // The finalizer thread is stuck in someone else's finalizer: run ungated rather than hang.
            _releasedThrough = Math.Max(_releasedThrough, generation);
            Monitor.PulseAll(Sync);
        }
    }

    private static bool WaitParked(long generation, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (_parked != generation && _releasedThrough < generation)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero) return false;
            Monitor.Wait(Sync, left);
        }
        return true;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void QueueParker(long generation) => _ = new Parker(generation);

    private static bool AnyOwnerWaiting()
    {
        foreach (var thread in Owners.Keys)
            if ((thread.ThreadState & ThreadState.WaitSleepJoin) != 0) return true;
        return false;
    }

    /// <summary>The gated region returned by <see cref="Enter"/>.</summary>
    public readonly struct Region(Thread thread) : IDisposable
    {
        public void Dispose() => Exit(thread);
    }

    private sealed class Parker(long generation)
    {
        ~Parker()
        {
            lock (Sync)
            {
                if (_releasedThrough >= generation) return;
                _parked = generation;
                Monitor.PulseAll(Sync);
                var tick = TimeSpan.FromMilliseconds(100);
                var waited = TimeSpan.Zero;
                while (_releasedThrough < generation)
                {
                    Monitor.Wait(Sync, tick);
                    waited = AnyOwnerWaiting() ? waited + tick : TimeSpan.Zero;
                    if (waited >= DeadlockTimeout) _releasedThrough = Math.Max(_releasedThrough, generation);
                }
                if (_parked == generation) _parked = 0;
                Monitor.PulseAll(Sync);
            }
        }
    }
}

using System.Diagnostics;

namespace DetSharp.Utils;

/// <summary>
/// Where an iteration's time goes: named sections timed with <c>using (Profiler.Scope(ProfilerSections.Neck)) ...</c> at the
/// detector, head and runner call sites (<c>detsharp benchmark train|infer --profile</c> switches it on).
/// </summary>
/// <remarks>
/// A section's time is its own (exclusive) time: a section opened inside another is counted in the inner one only, so the
/// sections of one thread never add up to more than the wall time they cover, and what no section covers is the managed
/// overhead between them. Switched off (the default), <see cref="Scope"/> returns an empty struct after one static read: no
/// clock, no lock, no allocation. Switched on, it reads the clock twice and takes one lock per section; the sections of
/// several threads are all summed, so time them on the driving thread.
/// </remarks>
public static class Profiler
{
    private static readonly Lock Sync = new();
    private static readonly Dictionary<string, Section> Sections = new(StringComparer.Ordinal);
    private static volatile bool _enabled;

    /// <summary>The time spent in sections nested inside the innermost open section of this thread.</summary>
    [ThreadStatic]
    private static long _nestedTicks;

    /// <summary>True between <see cref="Start"/> and <see cref="Stop"/>.</summary>
    public static bool Enabled => _enabled;

    /// <summary>Clears the sections and starts timing.</summary>
    public static void Start()
    {
        Reset();
        _enabled = true;
    }

    /// <summary>Stops timing; the sections are kept for <see cref="Snapshot"/>.</summary>
    public static void Stop() => _enabled = false;

    /// <summary>Clears the sections (e.g. after warm-up iterations).</summary>
    public static void Reset()
    {
        lock (Sync) Sections.Clear();
    }

    /// <summary>Opens a section; dispose it (<c>using</c>) to close it on the same thread. A no-op while the profiler is off.</summary>
    public static ProfilerScope Scope(string name) => _enabled ? new ProfilerScope(name) : default;

    /// <summary>The sections timed since the last <see cref="Start"/> or <see cref="Reset"/>, longest first.</summary>
    public static IReadOnlyList<ProfiledSection> Snapshot()
    {
        lock (Sync)
        {
            return Sections.Select(kv => new ProfiledSection(kv.Key, Stopwatch.GetElapsedTime(0, kv.Value.Ticks).TotalSeconds, kv.Value.Calls))
                .OrderByDescending(s => s.Seconds).ToList();
        }
    }

    /// <summary>An open section: its name, when it started and the nested time of the section around it.</summary>
    public readonly struct ProfilerScope : IDisposable
    {
        private readonly string? _name;
        private readonly long _start;
        private readonly long _outerNested;

        internal ProfilerScope(string name)
        {
            _name = name;
            _outerNested = _nestedTicks;
            _nestedTicks = 0;
            _start = Stopwatch.GetTimestamp();
        }

        public void Dispose()
        {
            if (_name is null) return;
            long elapsed = Stopwatch.GetTimestamp() - _start;
            long own = elapsed - _nestedTicks;
            _nestedTicks = _outerNested + elapsed;
            lock (Sync)
            {
                if (!Sections.TryGetValue(_name, out var section)) Sections[_name] = section = new Section();
                section.Ticks += own;
                section.Calls++;
            }
        }
    }

    private sealed class Section
    {
        public long Ticks;
        public long Calls;
    }
}

/// <summary>One section's own time in seconds and how many times it was entered.</summary>
public sealed record ProfiledSection(string Name, double Seconds, long Calls);

/// <summary>
/// The sections DetSharp times, one name per step of an iteration (MMDetection's names for the parts of a detector).
/// "dense head" is the RPN of a two-stage detector and the head of a one-stage one.
/// </summary>
public static class ProfilerSections
{
    public const string Data = "data";
    public const string Backbone = "backbone";
    public const string Neck = "neck";
    public const string DenseHeadForward = "dense head: forward";
    public const string DenseHeadAnchors = "dense head: anchors";
    public const string DenseHeadTargets = "dense head: targets";
    public const string DenseHeadLoss = "dense head: loss";
    public const string DenseHeadBoxes = "dense head: boxes (decode, NMS)";
    public const string RoIAssignSample = "roi: assign + sample";
    public const string RoIExtraction = "roi: extraction (RoIAlign)";
    public const string BboxHeadForward = "bbox head: forward";
    public const string BboxHeadTargets = "bbox head: targets";
    public const string BboxHeadLoss = "bbox head: loss";
    public const string BboxHeadBoxes = "bbox head: boxes (decode, NMS)";
    public const string MaskHeadForward = "mask head: forward";
    public const string MaskHeadTargets = "mask head: targets";
    public const string MaskHeadLoss = "mask head: loss";
    public const string MaskHeadPaste = "mask head: paste + RLE";
    public const string LossSum = "losses: sum + log";
    public const string HeapTrim = "native heap: trim";
    public const string Backward = "backward";
    public const string OptimizerStep = "optimizer: zero_grad, clip, step";
    public const string FinalizerGate = "gc: finalizer gate";

    /// <summary>The sections in the order an iteration runs them (the table's order).</summary>
    public static IReadOnlyList<string> InOrder { get; } =
    [
        Data, Backbone, Neck, DenseHeadForward, DenseHeadAnchors, DenseHeadTargets, DenseHeadLoss, DenseHeadBoxes, RoIAssignSample, RoIExtraction,
        BboxHeadForward, BboxHeadTargets, BboxHeadLoss, BboxHeadBoxes, MaskHeadForward, MaskHeadTargets, MaskHeadLoss, MaskHeadPaste, LossSum,
        HeapTrim, Backward, OptimizerStep, FinalizerGate,
    ];
}

using System.Diagnostics;
using DetSharp.Apis;
using DetSharp.Utils;

namespace DetSharp.Benchmarks;

/// <summary>What <see cref="InferBenchmark.Run"/> measured over the timed images.</summary>
public sealed record InferBenchmarkResult(int Images, double Fps, double MsPerImage, double MeanDetections, long PeakRssBytes)
{
    /// <summary>Where the timed images' time went (<c>--profile</c>); null when not profiled.</summary>
    public ProfileReport? Profile { get; init; }

    /// <summary>The backend timed: <c>libtorch</c> or <c>onnxruntime</c>.</summary>
    public string Backend { get; init; } = "libtorch";

    /// <summary>ONNX Runtime's intra-op threads (null for libtorch).</summary>
    public int? OrtIntraOpThreads { get; init; }

    /// <summary>ONNX Runtime's inter-op threads (null for libtorch).</summary>
    public int? OrtInterOpThreads { get; init; }
}

/// <summary>
/// Two backends timed on the same images in one run (<see cref="InferBenchmark.Compare"/>): <see cref="Ratio"/> is the
/// second's time per image over the first's.
/// </summary>
public sealed record InferComparisonResult(InferBenchmarkResult First, InferBenchmarkResult Second)
{
    public double Ratio => Second.MsPerImage / First.MsPerImage;
}

/// <summary>
/// <c>detsharp benchmark infer</c>, as MMDetection's <c>tools/analysis_tools/benchmark.py</c>: the config's test pipeline
/// and model on images one at a time (the first <c>warmup</c> ones untimed), reporting images/s, ms/image and the
/// process's peak resident memory; with <c>profile</c>, where the timed images' time went (<see cref="Profiler"/>).
/// <see cref="Compare"/> times two detectors (libtorch and ONNX Runtime) alternately on the same images.
/// </summary>
public static class InferBenchmark
{
    public static InferBenchmarkResult Run(Detector detector, IReadOnlyList<string> images, int count, int warmup, TextWriter log, bool profile = false)
    {
        Check(images, count);
        var tally = new Tally(detector);
        IReadOnlyList<ProfiledSection> sections = [];
        TimeSpan gcStart = TimeSpan.Zero, gcPause = TimeSpan.Zero;
        if (profile) Profiler.Start();
        try
        {
            for (int i = 0; i < warmup + count; i++)
            {
                if (profile && i == warmup)
                {
                    Profiler.Reset();
                    gcStart = GC.GetTotalPauseDuration();
                }
                tally.Time(images[i % images.Count], i, count, warmup, log);
            }
            if (profile)
            {
                sections = Profiler.Snapshot();
                gcPause = GC.GetTotalPauseDuration() - gcStart;
            }
        }
        finally
        {
            Profiler.Stop();
        }
        return tally.Result(count, PeakRss()) with { Profile = profile ? ProfileReport.From(sections, count, tally.Seconds, gcPause) : null };
    }

    /// <summary>
    /// <paramref name="first"/> and <paramref name="second"/> on each image in turn, which of them goes first alternating
    /// from image to image, so that a load on the machine that comes and goes weighs on both alike: their times per image
    /// and the ratio come from one run.
    /// </summary>
    public static InferComparisonResult Compare(Detector first, Detector second, IReadOnlyList<string> images, int count, int warmup, TextWriter log)
    {
        Check(images, count);
        var tallies = new[] { new Tally(first), new Tally(second) };
        for (int i = 0; i < warmup + count; i++)
            for (int k = 0; k < 2; k++)
                tallies[(i + k) % 2].Time(images[i % images.Count], i, count, warmup, log);
        long rss = PeakRss();
        return new InferComparisonResult(tallies[0].Result(count, rss), tallies[1].Result(count, rss));
    }

    private static void Check(IReadOnlyList<string> images, int count)
    {
        if (images.Count == 0) throw new DetSharpException("benchmark infer: no images to run on.");
        if (count < 1) throw new DetSharpException("--images must be at least 1.");
    }

    private static long PeakRss()
    {
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        return process.PeakWorkingSet64;
    }

    /// <summary>One detector's timed seconds and detections.</summary>
    private sealed class Tally(Detector detector)
    {
        public double Seconds { get; private set; }

        private long _detections;

        public void Time(string image, int i, int count, int warmup, TextWriter log)
        {
            var watch = Stopwatch.StartNew();
            var result = detector.Infer(image);
            double seconds = watch.Elapsed.TotalSeconds;
            if (i >= warmup)
            {
                Seconds += seconds;
                _detections += result.Detections.Count;
            }
            log.WriteLine(FormattableString.Invariant(
                $"{detector.Backend} image {i + 1 - warmup}/{count}: {seconds * 1000:F0} ms, {result.Detections.Count} detections{(i < warmup ? " [warm-up]" : "")}"));
        }

        public InferBenchmarkResult Result(int count, long peakRss) =>
            new(count, count / Seconds, Seconds * 1000 / count, (double)_detections / count, peakRss)
            {
                Backend = detector.Backend,
                OrtIntraOpThreads = detector.OnnxRuntimeThreads?.IntraOp,
                OrtInterOpThreads = detector.OnnxRuntimeThreads?.InterOp,
            };
    }
}

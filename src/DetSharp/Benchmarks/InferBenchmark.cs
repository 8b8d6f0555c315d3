using System.Diagnostics;
using DetSharp.Apis;
using DetSharp.Utils;

namespace DetSharp.Benchmarks;

/// <summary>What <see cref="InferBenchmark.Run"/> measured over the timed images.</summary>
public sealed record InferBenchmarkResult(int Images, double Fps, double MsPerImage, double MeanDetections, long PeakRssBytes)
{
    /// <summary>Where the timed images' time went (<c>--profile</c>); null when not profiled.</summary>
    public ProfileReport? Profile { get; init; }
}

/// <summary>
/// <c>detsharp benchmark infer</c>, as MMDetection's <c>tools/analysis_tools/benchmark.py</c>: the config's test pipeline
/// and model on images one at a time (the first <c>warmup</c> ones untimed), reporting images/s, ms/image and the
/// process's peak resident memory; with <c>profile</c>, where the timed images' time went (<see cref="Profiler"/>).
/// </summary>
public static class InferBenchmark
{
    public static InferBenchmarkResult Run(Detector detector, IReadOnlyList<string> images, int count, int warmup, TextWriter log, bool profile = false)
    {
        if (images.Count == 0) throw new DetSharpException("benchmark infer: no images to run on.");
        if (count < 1) throw new DetSharpException("--images must be at least 1.");
        double timed = 0;
        long detections = 0;
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
                string image = images[i % images.Count];
                var watch = Stopwatch.StartNew();
                var result = detector.Infer(image);
                double seconds = watch.Elapsed.TotalSeconds;
                if (i >= warmup)
                {
                    timed += seconds;
                    detections += result.Detections.Count;
                }
                log.WriteLine(FormattableString.Invariant(
                    $"image {i + 1 - warmup}/{count}: {seconds * 1000:F0} ms, {result.Detections.Count} detections{(i < warmup ? " [warm-up]" : "")}"));
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
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        return new InferBenchmarkResult(count, count / timed, timed * 1000 / count, (double)detections / count, process.PeakWorkingSet64)
        {
            Profile = profile ? ProfileReport.From(sections, count, timed, gcPause) : null,
        };
    }
}

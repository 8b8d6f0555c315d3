using System.Diagnostics;
using DetSharp.Apis;

namespace DetSharp.Benchmarks;

/// <summary>What <see cref="InferBenchmark.Run"/> measured over the timed images.</summary>
public sealed record InferBenchmarkResult(int Images, double Fps, double MsPerImage, double MeanDetections, long PeakRssBytes);

/// <summary>
/// <c>detsharp benchmark infer</c>, as MMDetection's <c>tools/analysis_tools/benchmark.py</c>: the config's test pipeline
/// and model on images one at a time (the first <c>warmup</c> ones untimed), reporting images/s, ms/image and the
/// process's peak resident memory.
/// </summary>
public static class InferBenchmark
{
    public static InferBenchmarkResult Run(Detector detector, IReadOnlyList<string> images, int count, int warmup, TextWriter log)
    {
        if (images.Count == 0) throw new DetSharpException("benchmark infer: no images to run on.");
        if (count < 1) throw new DetSharpException("--images must be at least 1.");
        double timed = 0;
        long detections = 0;
        for (int i = 0; i < warmup + count; i++)
        {
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
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        return new InferBenchmarkResult(count, count / timed, timed * 1000 / count, (double)detections / count, process.PeakWorkingSet64);
    }
}

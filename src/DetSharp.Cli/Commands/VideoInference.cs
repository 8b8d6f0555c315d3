using System.Diagnostics;
using DetSharp.Apis;
using DetSharp.Visualization;
using OpenCvSharp;

namespace DetSharp.Cli.Commands;

/// <summary>
/// <c>detsharp infer</c> on a video file or a camera: MMDetection's <c>demo/video_demo.py</c> and <c>webcam_demo.py</c>
/// without a window. Frames are read with OpenCV's <see cref="VideoCapture"/>, detected in batches of
/// <c>--batch-size</c> (one forward pass each, <see cref="Detector.InferBatchAsync(IEnumerable{Mat}, int, IProgress{InferenceProgress}?, CancellationToken)"/>),
/// drawn as pictures are, and written with <see cref="VideoWriter"/> (MPEG-4 part 2, <c>mp4v</c>, at the source's frame rate);
/// the frames per second of the whole loop (read, detect, draw, write) are reported.
/// </summary>
internal static class VideoInference
{
    /// <summary>File extensions <c>infer</c> treats as videos.</summary>
    public static readonly HashSet<string> Extensions = new(StringComparer.OrdinalIgnoreCase) { ".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg" };

    /// <summary>What one video or camera run did.</summary>
    public sealed record Summary(int Frames, double Seconds, int Detections)
    {
        public double FramesPerSecond => Frames / Math.Max(Seconds, 1e-9);
    }

    /// <summary>
    /// Reads <paramref name="capture"/> until it ends (or <paramref name="maxFrames"/>), writes the annotated video to
    /// <paramref name="output"/>. <paramref name="source"/> names the input in messages.
    /// </summary>
    public static Summary Run(Detector detector, VideoCapture capture, string source, string output, Palette palette, float scoreThr,
        int batchSize, int? maxFrames, CancellationToken cancellationToken)
    {
        if (!capture.IsOpened())
            throw new DetSharpException($"{source}: OpenCV cannot open it as a video (unknown format or codec, or no such camera).");
        int width = capture.FrameWidth, height = capture.FrameHeight;
        double fps = capture.Fps is > 0 and < 1000 ? capture.Fps : 25; // cameras often report 0
        using var writer = new VideoWriter(output, FourCC.FromString("mp4v"), fps, new Size(width, height));
        if (!writer.IsOpened())
            throw new DetSharpException($"{output}: OpenCV cannot write an mp4v video there (check the folder and the .mp4/.avi extension).");

        var watch = Stopwatch.StartNew();
        int frames = 0, detections = 0;
        var batch = new List<Mat>(batchSize);
        try
        {
            // A cancellation (Ctrl+C: webcam_demo's Esc) ends the recording as the end of the stream does: the video stays valid.
            while ((maxFrames is null || frames + batch.Count < maxFrames) && !cancellationToken.IsCancellationRequested)
            {
                var frame = new Mat();
                if (!capture.Read(frame) || frame.Empty())
                {
                    frame.Dispose();
                    break;
                }
                batch.Add(frame);
                if (batch.Count == batchSize)
                {
                    (frames, detections) = Flush(detector, batch, writer, palette, scoreThr, frames, detections);
                }
            }
            (frames, detections) = Flush(detector, batch, writer, palette, scoreThr, frames, detections);
        }
        finally
        {
            foreach (var frame in batch) frame.Dispose();
        }
        if (frames == 0) throw new DetSharpException($"{source}: no frame could be read.");
        return new Summary(frames, watch.Elapsed.TotalSeconds, detections);
    }

    private static (int Frames, int Detections) Flush(Detector detector, List<Mat> batch, VideoWriter writer, Palette palette, float scoreThr,
        int frames, int detections)
    {
        if (batch.Count == 0) return (frames, detections);
        var results = detector.InferBatchAsync(batch, batch.Count).ToBlockingEnumerable().ToList();
        for (int i = 0; i < batch.Count; i++)
        {
            detections += InferCommand.Draw(batch[i], results[i], detector.ClassNames, palette, scoreThr);
            writer.Write(batch[i]);
            batch[i].Dispose();
        }
        batch.Clear();
        return (frames + results.Count, detections);
    }
}

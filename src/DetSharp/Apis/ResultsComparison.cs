using System.Text.Json;
using DetSharp.Structures;

namespace DetSharp.Apis;

/// <summary>How far two backends' detections may differ and still count as the same (issue 24's acceptance).</summary>
public sealed record ResultsTolerance(double BoxPx = 1e-2, double Score = 1e-4, double MaskIou = 0.99);

/// <summary>One image of a <see cref="ResultsComparison"/>: detection counts, the matched pairs' largest differences.</summary>
/// <param name="MaxBoxDiff">Largest |coordinate difference| in pixels over matched pairs (0 when none).</param>
/// <param name="MaxScoreDiff">Largest |score difference| over matched pairs.</param>
/// <param name="MinMaskIou">Smallest mask IoU over matched pairs (1 without masks; two empty masks count as 1).</param>
public sealed record ImageComparison(long ImageId, string? FileName, int Expected, int Actual, int Matched,
    double MaxBoxDiff, double MaxScoreDiff, double MinMaskIou)
{
    /// <summary>Every detection of either side has its counterpart on the other.</summary>
    public bool SameKeptSet => Expected == Actual && Matched == Expected;
}

/// <summary>
/// Two results files of one test set written by <c>detsharp test --out</c> (e.g. libtorch and ONNX Runtime), compared
/// detection by detection: per image, each expected detection is paired with the unused actual one of the same label
/// whose score is within <see cref="ResultsTolerance.Score"/> and box within <see cref="ResultsTolerance.BoxPx"/>, the
/// closest box first (detections of equal score may come in either order). The kept sets are the same when every
/// detection is paired; the report gives the pairs' largest box and score differences and smallest mask IoU.
/// <c>DetSharp.Bench compare-results</c> and the backends' parity tests use it.
/// </summary>
public sealed class ResultsComparison
{
    private ResultsComparison(IReadOnlyList<ImageComparison> images, ResultsTolerance tolerance)
    {
        Images = images;
        Tolerance = tolerance;
    }

    public IReadOnlyList<ImageComparison> Images { get; }

    public ResultsTolerance Tolerance { get; }

    public bool SameKeptSets => Images.All(i => i.SameKeptSet);

    public double MaxBoxDiff => Images.Select(i => i.MaxBoxDiff).DefaultIfEmpty(0).Max();

    public double MaxScoreDiff => Images.Select(i => i.MaxScoreDiff).DefaultIfEmpty(0).Max();

    public double MinMaskIou => Images.Select(i => i.MinMaskIou).DefaultIfEmpty(1).Min();

    /// <summary>Same kept sets, and the pairs' masks overlap by at least <see cref="ResultsTolerance.MaskIou"/>.</summary>
    public bool Agree => SameKeptSets && MinMaskIou >= Tolerance.MaskIou;

    public static ResultsComparison Compare(string expectedPath, string actualPath, ResultsTolerance? tolerance = null)
    {
        tolerance ??= new ResultsTolerance();
        var expected = Read(expectedPath);
        var actual = Read(actualPath);
        if (expected.Count != actual.Count)
            throw new DetSharpException($"{actualPath} has {actual.Count} images, {expectedPath} {expected.Count}: compare the results of one test set (detsharp test --out).");
        var images = new List<ImageComparison>(expected.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            if (expected[i].ImageId != actual[i].ImageId)
                throw new DetSharpException($"image {i}: {expectedPath} has image_id {expected[i].ImageId}, {actualPath} image_id {actual[i].ImageId}: compare the results of one test set.");
            images.Add(CompareImage(expected[i], actual[i], tolerance));
        }
        return new ResultsComparison(images, tolerance);
    }

    /// <summary>A line per image, then the summary.</summary>
    public void Write(TextWriter w)
    {
        w.WriteLine("image_id  expected  actual  matched  max box diff (px)  max score diff  min mask IoU  file");
        foreach (var i in Images)
            w.WriteLine(FormattableString.Invariant(
                $"{i.ImageId,8}  {i.Expected,8}  {i.Actual,6}  {i.Matched,7}  {i.MaxBoxDiff,17:g3}  {i.MaxScoreDiff,14:g3}  {i.MinMaskIou,12:f4}  {i.FileName}{(i.SameKeptSet ? "" : "  KEPT SETS DIFFER")}"));
        var t = Tolerance;
        w.WriteLine(FormattableString.Invariant(
            $"{Images.Count(i => i.SameKeptSet)}/{Images.Count} images with the same kept set (box within {t.BoxPx:g} px, score within {t.Score:g})"));
        w.WriteLine(FormattableString.Invariant(
            $"max box diff {MaxBoxDiff:g3} px, max score diff {MaxScoreDiff:g3}, min mask IoU {MinMaskIou:f4} (needed {t.MaskIou:g}): {(Agree ? "AGREE" : "DIFFER")}"));
    }

    private sealed record Det(double[] Box, double Score, long Label, Rle? Mask);

    private sealed record ImageResult(long ImageId, string? FileName, List<Det> Detections);

    private static ImageComparison CompareImage(ImageResult expected, ImageResult actual, ResultsTolerance t)
    {
        var unused = actual.Detections.ToList();
        double maxBox = 0, maxScore = 0, minIou = 1;
        int matched = 0;
        foreach (var e in expected.Detections)
        {
            Det? best = null;
            double bestDiff = double.PositiveInfinity;
            foreach (var a in unused)
            {
                if (a.Label != e.Label || Math.Abs(a.Score - e.Score) > t.Score) continue;
                double diff = BoxDiff(e, a);
                if (diff <= t.BoxPx && diff < bestDiff) (best, bestDiff) = (a, diff);
            }
            if (best is null) continue;
            unused.Remove(best);
            matched++;
            maxBox = Math.Max(maxBox, bestDiff);
            maxScore = Math.Max(maxScore, Math.Abs(best.Score - e.Score));
            if (e.Mask is { } em && best.Mask is { } am)
                minIou = Math.Min(minIou, em.Area() == 0 && am.Area() == 0 ? 1.0 : MaskIou.RleIou([am], [em])[0, 0]);
        }
        return new ImageComparison(expected.ImageId, expected.FileName, expected.Detections.Count, actual.Detections.Count, matched, maxBox, maxScore, minIou);
    }

    private static double BoxDiff(Det e, Det a) => e.Box.Zip(a.Box, (p, q) => Math.Abs(p - q)).Max();

    /// <summary>The raw results of <c>detsharp test --out</c>: per image its bboxes (x1, y1, x2, y2, score), labels and RLE segms.</summary>
    private static List<ImageResult> Read(string path)
    {
        if (!File.Exists(path)) throw new DetSharpException($"{path}: no such results file (write one with detsharp test --out).");
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var images = new List<ImageResult>();
            foreach (var image in doc.RootElement.EnumerateArray())
            {
                var boxes = image.GetProperty("bboxes").EnumerateArray().Select(b => b.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToList();
                var labels = image.GetProperty("labels").EnumerateArray().Select(v => v.GetInt64()).ToList();
                var masks = image.TryGetProperty("segms", out var segms)
                    ? segms.EnumerateArray().Select(s =>
                    {
                        var size = s.GetProperty("size");
                        return (Rle?)Rle.FromCompressedString(s.GetProperty("counts").GetString()!, size[0].GetInt32(), size[1].GetInt32());
                    }).ToList()
                    : null;
                if (labels.Count != boxes.Count || boxes.Any(b => b.Length != 5) || masks is not null && masks.Count != boxes.Count)
                    throw new DetSharpException($"{path}: image {image.GetProperty("image_id").GetInt64()} has {boxes.Count} bboxes of 5 numbers, {labels.Count} labels and {masks?.Count} segms: not a detsharp test --out file.");
                var detections = boxes.Select((b, k) => new Det(b[..4], b[4], labels[k], masks?[k])).ToList();
                images.Add(new ImageResult(image.GetProperty("image_id").GetInt64(),
                    image.TryGetProperty("file_name", out var name) ? name.GetString() : null, detections));
            }
            return images;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new DetSharpException($"{path}: not a results file of detsharp test --out ({e.Message}).", e);
        }
    }
}

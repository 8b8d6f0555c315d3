using DetSharp.Datasets;
using OpenCvSharp;

namespace DetSharp.Visualization;

/// <summary>Draws a sample's ground truth (masks, boxes, class names) onto a BGR copy of its image with <see cref="DetectionPainter"/>.</summary>
public static class GroundTruthPainter
{
    public static Mat Draw(DetSample sample, IReadOnlyList<string> classes, Palette? palette = null, double maskAlpha = 0.5)
    {
        var img = sample.Img ?? throw new InvalidOperationException("the sample has no image to draw on.");
        var canvas = new Mat();
        if (img.Depth() == MatType.CV_8U) img.CopyTo(canvas);
        else img.ConvertTo(canvas, MatType.CV_8UC(img.Channels())); // saturating, as mmcv's imshow on float images
        if (canvas.Channels() == 1) Cv2.CvtColor(canvas, canvas, ColorConversionCodes.GRAY2BGR);

        var boxes = sample.GtBboxes ?? [];
        int n = boxes.Length / 4;
        var bitmaps = sample.GtMasks is { Count: > 0 } masks ? masks.ToBitmap() : null;
        var instances = new List<DrawnInstance>(n);
        for (int i = 0; i < n; i++)
        {
            int label = sample.GtLabels is { } l && i < l.Length ? (int)l[i] : -1;
            byte[]? plane = bitmaps is not null && i < bitmaps.Count ? bitmaps[i] : null;
            instances.Add(new DrawnInstance(boxes[i * 4], boxes[i * 4 + 1], boxes[i * 4 + 2], boxes[i * 4 + 3], label,
                Mask: plane, MaskWidth: bitmaps?.Width ?? 0));
        }
        DetectionPainter.Draw(canvas, instances, classes, palette ?? Palette.Spread, maskAlpha);

        // Ignored (crowd) boxes in grey, as MMDetection's browse_dataset leaves them out of the class colours.
        int thickness = Math.Max(1, Math.Min(canvas.Rows, canvas.Cols) / 400);
        var ignore = sample.GtBboxesIgnore ?? [];
        for (int i = 0; i < ignore.Length / 4; i++)
            Cv2.Rectangle(canvas, new Point((int)ignore[i * 4], (int)ignore[i * 4 + 1]), new Point((int)ignore[i * 4 + 2], (int)ignore[i * 4 + 3]),
                new Scalar(128, 128, 128), thickness);
        return canvas;
    }
}

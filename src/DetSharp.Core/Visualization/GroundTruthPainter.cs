using DetSharp.Datasets;
using OpenCvSharp;

namespace DetSharp.Visualization;

/// <summary>Draws a sample's ground truth (mask overlays, boxes, class names) onto a BGR copy of its image, as mmdet's imshow_det_bboxes.</summary>
public static class GroundTruthPainter
{
    public static Mat Draw(DetSample sample, IReadOnlyList<string> classes, double maskAlpha = 0.5)
    {
        var img = sample.Img ?? throw new InvalidOperationException("the sample has no image to draw on.");
        var canvas = new Mat();
        if (img.Depth() == MatType.CV_8U) img.CopyTo(canvas);
        else img.ConvertTo(canvas, MatType.CV_8UC(img.Channels())); // saturating, as mmcv's imshow on float images
        if (canvas.Channels() == 1) Cv2.CvtColor(canvas, canvas, ColorConversionCodes.GRAY2BGR);
        int n = sample.GtLabels?.Length ?? (sample.GtBboxes?.Length ?? 0) / 4;
        var colors = new Scalar[n];
        for (int i = 0; i < n; i++)
        {
            var rng = new Random(i * 7919 + 17);
            colors[i] = new Scalar(rng.Next(64, 256), rng.Next(64, 256), rng.Next(64, 256));
        }
        if (sample.GtMasks is { Count: > 0 } masks)
        {
            var bitmaps = masks.ToBitmap();
            int w = Math.Min(bitmaps.Width, canvas.Cols), h = Math.Min(bitmaps.Height, canvas.Rows), cols = canvas.Cols;
            var pixels = Structures.CvInterop.ToBytes(canvas);
            for (int i = 0; i < bitmaps.Count && i < n; i++)
            {
                var plane = bitmaps[i];
                var c = colors[i];
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++)
                    {
                        if (plane[y * bitmaps.Width + x] == 0) continue;
                        int o = (y * cols + x) * 3;
                        pixels[o] = (byte)(pixels[o] * (1 - maskAlpha) + c.Val0 * maskAlpha);
                        pixels[o + 1] = (byte)(pixels[o + 1] * (1 - maskAlpha) + c.Val1 * maskAlpha);
                        pixels[o + 2] = (byte)(pixels[o + 2] * (1 - maskAlpha) + c.Val2 * maskAlpha);
                    }
            }
            System.Runtime.InteropServices.Marshal.Copy(pixels, 0, canvas.Data, pixels.Length);
        }
        int thickness = Math.Max(1, Math.Min(canvas.Rows, canvas.Cols) / 400);
        double fontScale = Math.Max(0.4, Math.Min(canvas.Rows, canvas.Cols) / 1000.0);
        var boxes = sample.GtBboxes ?? [];
        for (int i = 0; i < boxes.Length / 4; i++)
        {
            var color = i < n ? colors[i] : new Scalar(0, 255, 0);
            var p1 = new Point((int)boxes[i * 4], (int)boxes[i * 4 + 1]);
            var p2 = new Point((int)boxes[i * 4 + 2], (int)boxes[i * 4 + 3]);
            Cv2.Rectangle(canvas, p1, p2, color, thickness);
            long label = sample.GtLabels is { } l && i < l.Length ? l[i] : -1;
            string text = label >= 0 && label < classes.Count ? classes[(int)label] : $"class {label}";
            Cv2.PutText(canvas, text, new Point(p1.X, Math.Max(p1.Y - 4, 12)), HersheyFonts.HersheySimplex, fontScale, color, thickness);
        }
        var ignore = sample.GtBboxesIgnore ?? [];
        for (int i = 0; i < ignore.Length / 4; i++)
            Cv2.Rectangle(canvas, new Point((int)ignore[i * 4], (int)ignore[i * 4 + 1]), new Point((int)ignore[i * 4 + 2], (int)ignore[i * 4 + 3]),
                new Scalar(128, 128, 128), thickness);
        return canvas;
    }
}

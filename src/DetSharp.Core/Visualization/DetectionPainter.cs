using System.Globalization;
using OpenCvSharp;

namespace DetSharp.Visualization;

/// <summary>One object to draw: a box (x1, y1, x2, y2), its class, an optional score and an optional mask.</summary>
/// <param name="Mask">Row-major 0/1 plane of the canvas size (<paramref name="MaskWidth"/> columns), or null.</param>
public sealed record DrawnInstance(float X1, float Y1, float X2, float Y2, int Label, float? Score = null, byte[]? Mask = null, int MaskWidth = 0);

/// <summary>
/// The one drawing routine behind <c>infer</c>, <c>test --show-dir</c> and <c>browse-dataset</c> (MMDetection's
/// <c>imshow_det_bboxes</c>): semi-transparent masks in the class colour, box outlines, and a label
/// ("class score") on a filled tag in the class colour, with black or white text by contrast so it is readable on
/// any background. ASCII labels use OpenCV's Hershey font; others (Chinese class names) a real font (<see cref="LabelFont"/>).
/// <para>Thread safety: stateless; concurrent calls on different canvases are safe.</para>
/// </summary>
public static class DetectionPainter
{
    public static void Draw(Mat canvas, IReadOnlyList<DrawnInstance> instances, IReadOnlyList<string> classes, Palette palette,
        double maskAlpha = 0.5)
    {
        if (canvas.Type() != MatType.CV_8UC3)
            throw new ArgumentException("the canvas must be an 8-bit BGR image.", nameof(canvas));
        int rows = canvas.Rows, cols = canvas.Cols;
        if (instances.Any(i => i.Mask is not null))
        {
            var pixels = Structures.CvInterop.ToBytes(canvas);
            foreach (var instance in instances)
                if (instance.Mask is { } mask) Blend(pixels, rows, cols, mask, instance.MaskWidth, palette[instance.Label], maskAlpha);
            System.Runtime.InteropServices.Marshal.Copy(pixels, 0, canvas.Data, pixels.Length);
        }

        int shorter = Math.Min(rows, cols);
        int thickness = Math.Max(2, shorter / 300);
        double fontScale = Math.Clamp(shorter / 900.0, 0.45, 1.6);
        int fontThickness = Math.Max(1, thickness / 2);
        foreach (var instance in instances)
        {
            var color = palette[instance.Label];
            var p1 = new Point((int)Math.Round(instance.X1), (int)Math.Round(instance.Y1));
            var p2 = new Point((int)Math.Round(instance.X2), (int)Math.Round(instance.Y2));
            Cv2.Rectangle(canvas, p1, p2, color, thickness, LineTypes.AntiAlias);

            string name = instance.Label >= 0 && instance.Label < classes.Count ? classes[instance.Label] : $"class {instance.Label}";
            string text = instance.Score is { } s ? string.Create(CultureInfo.InvariantCulture, $"{name} {s:F2}") : name;
            var size = Cv2.GetTextSize(text, HersheyFonts.HersheySimplex, fontScale, fontThickness, out int baseline);
            // Hershey draws printable ASCII only; other text (a Chinese class name) takes a real font in the same line box.
            bool hershey = LabelFont.IsHersheyText(text);
            if (!hershey) size.Width = LabelFont.Measure(text, size.Height + baseline);
            int pad = Math.Max(2, thickness);
            // Above the box when there is room, else just inside its top edge.
            int top = p1.Y - size.Height - baseline - 2 * pad >= 0 ? p1.Y - size.Height - baseline - 2 * pad : Math.Max(0, p1.Y);
            int left = Math.Clamp(p1.X, 0, Math.Max(0, cols - size.Width - 2 * pad));
            var tag = new Rect(left, top, size.Width + 2 * pad, size.Height + baseline + 2 * pad);
            Cv2.Rectangle(canvas, tag, color, -1);
            double luminance = 0.114 * color.Val0 + 0.587 * color.Val1 + 0.299 * color.Val2;
            var ink = luminance > 140 ? new Scalar(0, 0, 0) : new Scalar(255, 255, 255);
            if (hershey)
                Cv2.PutText(canvas, text, new Point(left + pad, top + pad + size.Height), HersheyFonts.HersheySimplex, fontScale, ink,
                    fontThickness, LineTypes.AntiAlias);
            else
                LabelFont.Draw(canvas, text, new Point(left + pad, top + pad), size.Height + baseline, ink);
        }
    }

    private static void Blend(byte[] pixels, int rows, int cols, byte[] mask, int maskWidth, Scalar color, double alpha)
    {
        if (maskWidth <= 0) return;
        int maskRows = mask.Length / maskWidth;
        int h = Math.Min(rows, maskRows), w = Math.Min(cols, maskWidth);
        double b = color.Val0 * alpha, g = color.Val1 * alpha, r = color.Val2 * alpha, keep = 1 - alpha;
        Parallel.For(0, h, y =>
        {
            var row = mask.AsSpan(y * maskWidth, w);
            int o = y * cols * 3;
            for (int x = 0; x < row.Length; x++, o += 3)
            {
                if (row[x] == 0) continue;
                pixels[o] = (byte)(pixels[o] * keep + b);
                pixels[o + 1] = (byte)(pixels[o + 1] * keep + g);
                pixels[o + 2] = (byte)(pixels[o + 2] * keep + r);
            }
        });
    }
}

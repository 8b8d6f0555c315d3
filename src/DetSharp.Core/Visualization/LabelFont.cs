using System.IO.Compression;
using System.Text;
using OpenCvSharp;
using SkiaSharp;

namespace DetSharp.Visualization;

/// <summary>
/// Label text that OpenCV's Hershey fonts cannot draw (they know printable ASCII only and print '?' for anything else,
/// so a Chinese class name became a row of question marks): drawn with SkiaSharp and two fonts bundled in this assembly,
/// DejaVu Sans (matplotlib's default, the font of MMDetection's <c>imshow_det_bboxes</c>) for Latin, Greek and Cyrillic
/// and Droid Sans Fallback for CJK (see <c>Visualization/Fonts/README.md</c>). Each character takes the first font that
/// has it.
/// <para>Thread safety: all members may be called from any thread; the fonts are loaded once and only read.</para>
/// </summary>
public static class LabelFont
{
    private static readonly Lazy<SKTypeface[]> Typefaces = new(() =>
        [Load("DejaVuSans-subset.ttf.gz"), Load("DroidSansFallback-subset.ttf.gz")]);

    /// <summary>Whether OpenCV's Hershey fonts can draw <paramref name="text"/> (printable ASCII only).</summary>
    public static bool IsHersheyText(string text) => text.All(c => c is >= ' ' and <= '~');

    /// <summary>
    /// The width of <paramref name="text"/> in pixels when drawn in a line box <paramref name="lineHeight"/> pixels tall
    /// (ascent + descent of the first font).
    /// </summary>
    public static int Measure(string text, int lineHeight)
    {
        float size = FontSize(lineHeight);
        float width = 0;
        foreach (var (run, face) in Runs(text))
        {
            using var font = NewFont(face, size);
            width += font.MeasureText(run);
        }
        return (int)Math.Ceiling(width);
    }

    /// <summary>
    /// Draws <paramref name="text"/> in <paramref name="ink"/> onto a BGR canvas, its line box (<paramref name="lineHeight"/>
    /// pixels) starting at <paramref name="topLeft"/>; antialiased, clipped to the canvas.
    /// </summary>
    public static void Draw(Mat canvas, string text, Point topLeft, int lineHeight, Scalar ink)
    {
        if (canvas.Type() != MatType.CV_8UC3)
            throw new ArgumentException("the canvas must be an 8-bit BGR image.", nameof(canvas));
        int width = Measure(text, lineHeight);
        var area = new Rect(topLeft.X, topLeft.Y, width, lineHeight).Intersect(new Rect(0, 0, canvas.Cols, canvas.Rows));
        if (area.Width <= 0 || area.Height <= 0) return;

        // Skia draws white text on a transparent bitmap; its alpha is the coverage with which the ink is blended in.
        float size = FontSize(lineHeight);
        using var bitmap = new SKBitmap(new SKImageInfo(width, lineHeight, SKColorType.Bgra8888, SKAlphaType.Premul));
        using (var skCanvas = new SKCanvas(bitmap))
        using (var paint = new SKPaint { Color = SKColors.White, IsAntialias = true })
        {
            skCanvas.Clear(SKColors.Transparent);
            float x = 0;
            foreach (var (run, face) in Runs(text))
            {
                using var font = NewFont(face, size);
                skCanvas.DrawText(run, x, -font.Metrics.Ascent, font, paint);
                x += font.MeasureText(run);
            }
        }
        var coverage = bitmap.Bytes;
        using var roi = new Mat(canvas, area);
        int dx = area.X - topLeft.X, dy = area.Y - topLeft.Y;
        for (int y = 0; y < area.Height; y++)
            for (int x = 0; x < area.Width; x++)
            {
                int a = coverage[((y + dy) * width + x + dx) * 4 + 3];
                if (a == 0) continue;
                var p = roi.At<Vec3b>(y, x);
                roi.Set(y, x, new Vec3b(Mix(p.Item0, ink.Val0, a), Mix(p.Item1, ink.Val1, a), Mix(p.Item2, ink.Val2, a)));
            }
    }

    private static byte Mix(byte background, double ink, int alpha) =>
        (byte)Math.Round((background * (255 - alpha) + ink * alpha) / 255.0);

    /// <summary>The font size whose ascent + descent (first font) fill <paramref name="lineHeight"/> pixels.</summary>
    private static float FontSize(int lineHeight)
    {
        using var unit = NewFont(Typefaces.Value[0], 100);
        var m = unit.Metrics;
        return lineHeight * 100 / (m.Descent - m.Ascent);
    }

    private static SKFont NewFont(SKTypeface face, float size) =>
        new(face, size) { Edging = SKFontEdging.Antialias, Subpixel = true };

    /// <summary>The text cut into runs of characters that one font draws (the first font that has each character).</summary>
    private static IEnumerable<(string Run, SKTypeface Face)> Runs(string text)
    {
        var faces = Typefaces.Value;
        var run = new StringBuilder();
        SKTypeface? current = null;
        foreach (var rune in text.EnumerateRunes())
        {
            var face = faces.FirstOrDefault(f => f.ContainsGlyph(rune.Value)) ?? faces[0];
            if (current is not null && face != current)
            {
                yield return (run.ToString(), current);
                run.Clear();
            }
            current = face;
            run.Append(rune.ToString());
        }
        if (current is not null) yield return (run.ToString(), current);
    }

    private static SKTypeface Load(string name)
    {
        using var resource = typeof(LabelFont).Assembly.GetManifestResourceStream($"DetSharp.Fonts.{name}")
                             ?? throw new DetSharpException($"the label font {name} is missing from DetSharp.Core.dll; rebuild DetSharp.Core (src/DetSharp.Core/Visualization/Fonts).");
        using var gzip = new GZipStream(resource, CompressionMode.Decompress);
        using var bytes = new MemoryStream();
        gzip.CopyTo(bytes);
        using var data = SKData.CreateCopy(bytes.ToArray());
        return SKTypeface.FromData(data)
               ?? throw new DetSharpException($"the label font {name} in DetSharp.Core.dll could not be read by SkiaSharp.");
    }
}

using DetSharp.Visualization;
using OpenCvSharp;

namespace DetSharp.Core.Tests.Visualization;

public class DetectionPainterTests
{
    [Fact]
    public void Masks_blend_half_way_to_the_class_colour_and_boxes_take_the_colour()
    {
        using var canvas = new Mat(60, 80, MatType.CV_8UC3, new Scalar(100, 100, 100));
        var mask = new byte[60 * 80];
        for (int y = 40; y < 50; y++)
            for (int x = 50; x < 70; x++) mask[y * 80 + x] = 1;
        var color = Palette.Spread[0];

        DetectionPainter.Draw(canvas, [new DrawnInstance(10, 30, 40, 55, 0, 0.9f, mask, 80)], ["balloon"], Palette.Spread);

        var inside = canvas.At<Vec3b>(45, 60);
        Assert.Equal((byte)(100 * 0.5 + color.Val0 * 0.5), inside.Item0);
        Assert.Equal((byte)(100 * 0.5 + color.Val1 * 0.5), inside.Item1);
        Assert.Equal((byte)(100 * 0.5 + color.Val2 * 0.5), inside.Item2);
        Assert.Equal(new Vec3b(100, 100, 100), canvas.At<Vec3b>(5, 75)); // untouched background
        var edge = canvas.At<Vec3b>(55, 25); // bottom edge of the box
        Assert.Equal(((byte)color.Val0, (byte)color.Val1, (byte)color.Val2), (edge.Item0, edge.Item1, edge.Item2));
    }

    /// <summary>An ASCII scene: boxes, tags at the top edge and inside the box, a mask, two canvas sizes (two font scales).</summary>
    private static string AsciiSceneHash(int rows, int cols)
    {
        using var canvas = new Mat(rows, cols, MatType.CV_8UC3, new Scalar(90, 120, 150));
        var mask = new byte[rows * cols];
        for (int y = rows / 2; y < rows * 3 / 4; y++)
            for (int x = cols / 3; x < cols / 2; x++) mask[y * cols + x] = 1;
        DetectionPainter.Draw(canvas,
        [
            new DrawnInstance(cols * 0.1f, rows * 0.3f, cols * 0.6f, rows * 0.8f, 0, 0.87f, mask, cols),
            new DrawnInstance(cols * 0.5f, 2, cols * 0.95f, rows * 0.4f, 1, 0.5f),
            new DrawnInstance(cols * 0.2f, rows * 0.5f, cols * 0.3f, rows * 0.6f, 7),
        ], ["balloon", "person"], Palette.Spread);
        return Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(DetSharp.Structures.CvInterop.ToBytes(canvas)))[..16];
    }

    [Fact]
    public void Ascii_labels_are_drawn_exactly_as_before_the_real_font_was_added()
    {
        // Hashes of this scene from the painter before non-ASCII labels were drawn with SkiaSharp: ASCII labels keep
        // OpenCV's Hershey text, pixel for pixel, so every existing picture stays as it was.
        Assert.Equal("A3250D95137EC04C 6066CE9F33A17C51", $"{AsciiSceneHash(120, 160)} {AsciiSceneHash(900, 1200)}");
    }

    /// <summary>The ink of a label drawn alone above its box: the pixels far from both the white canvas and the tag colour.</summary>
    private static byte[] LabelInk(string className)
    {
        using var canvas = new Mat(200, 300, MatType.CV_8UC3, Scalar.White);
        DetectionPainter.Draw(canvas, [new DrawnInstance(20, 100, 280, 190, 0)], [className], Palette.Spread);
        var tag = Palette.Spread[0];
        var ink = new byte[100 * 300];
        for (int y = 0; y < 100; y++) // above the box: only the label is drawn there
            for (int x = 0; x < 300; x++)
            {
                var p = canvas.At<Vec3b>(y, x);
                double fromTag = Math.Abs(p.Item0 - tag.Val0) + Math.Abs(p.Item1 - tag.Val1) + Math.Abs(p.Item2 - tag.Val2);
                double fromWhite = 3 * 255 - p.Item0 - p.Item1 - p.Item2;
                ink[y * 300 + x] = (byte)(fromTag > 120 && fromWhite > 120 ? 1 : 0);
            }
        return ink;
    }

    [Fact]
    public void A_chinese_class_name_is_drawn_in_real_glyphs_not_question_marks()
    {
        // OpenCV's Hershey font writes each of these characters as '?'; the real font draws two different glyphs.
        var name = LabelInk("气球");
        var questionMarks = LabelInk("??");
        var first = LabelInk("气");
        var second = LabelInk("球");
        int Ink(byte[] plane) => plane.Sum(b => b);
        int Differ(byte[] a, byte[] b) => a.Zip(b).Count(p => p.First != p.Second);

        Assert.True(Ink(name) > 2 * Ink(questionMarks), $"ink {Ink(name)} vs '??' {Ink(questionMarks)}");
        Assert.True(Differ(name, questionMarks) > Ink(questionMarks), "the label looks like '??'");
        // Two different characters give different ink (a missing-glyph box would look the same for both).
        Assert.True(Differ(first, second) > Ink(first) / 3, $"气 and 球 differ in {Differ(first, second)} pixels of {Ink(first)}");
        Assert.True(Ink(name) > Ink(first));
    }

    [Fact]
    public void A_chinese_label_sits_where_an_ascii_label_sits_and_is_as_wide_as_its_text()
    {
        // The filled tag (the column just right of the box's left edge, in the tag colour): same top and bottom rows as an
        // ASCII label's, so pictures mixing both look alike; the width follows the text.
        static (int Top, int Bottom, int Right) Tag(string className)
        {
            using var canvas = new Mat(200, 300, MatType.CV_8UC3, Scalar.White);
            DetectionPainter.Draw(canvas, [new DrawnInstance(20, 100, 280, 190, 0, 0.91f)], [className], Palette.Spread);
            var tag = Palette.Spread[0];
            bool IsTag(int y, int x) => canvas.At<Vec3b>(y, x) == new Vec3b((byte)tag.Val0, (byte)tag.Val1, (byte)tag.Val2);
            var rows = Enumerable.Range(0, 100).Where(y => IsTag(y, 21)).ToList();
            return (rows[0], rows[^1], Enumerable.Range(20, 280).Last(x => IsTag(rows[0], x)));
        }
        var chinese = Tag("气球气球");
        var ascii = Tag("ab");
        Assert.Equal(ascii.Top, chinese.Top);
        Assert.Equal(ascii.Bottom, chinese.Bottom);
        Assert.True(chinese.Right > ascii.Right + 20, $"tag right edge {chinese.Right} vs {ascii.Right}");
    }

    [Fact]
    public void Palettes_give_distinct_stable_colours()
    {
        Assert.Equal(Palette.Spread[3], Palette.Get("coco")[3]);
        Assert.NotEqual(Palette.Spread[0], Palette.Spread[1]);
        Assert.Equal(new Scalar(60, 20, 220), Palette.Cityscapes[0]); // person: RGB (220, 20, 60)
        Assert.Equal(Palette.Random[5], Palette.Get("random")[5]);
        var e = Assert.Throws<DetSharpException>(() => Palette.Get("voc2"));
        Assert.Contains("use one of: coco, citys, random", e.Message);
    }
}

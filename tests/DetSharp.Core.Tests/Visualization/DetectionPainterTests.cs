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

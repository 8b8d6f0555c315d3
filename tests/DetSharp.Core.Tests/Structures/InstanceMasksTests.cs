using DetSharp.Structures;

namespace DetSharp.Core.Tests.Structures;

public class InstanceMasksTests
{
    private static byte[] Plane(int h, int w, Func<int, int, bool> on)
    {
        var p = new byte[h * w];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                p[y * w + x] = on(y, x) ? (byte)1 : (byte)0;
        return p;
    }

    [Fact]
    public void Bitmap_flip_pad_crop_resize_follow_mmdetection()
    {
        var m = new BitmapMasks([Plane(4, 6, (y, x) => x == 0 && y == 1)], 4, 6);

        Assert.Equal(1, m.Flip(FlipDirection.Horizontal)[0][1 * 6 + 5]);
        Assert.Equal(1, m.Flip(FlipDirection.Vertical)[0][2 * 6 + 0]);
        Assert.Equal(1, m.Flip(FlipDirection.Diagonal)[0][2 * 6 + 5]);
        var padded = m.Pad(8, 10);
        Assert.Equal((8, 10), (padded.Height, padded.Width));
        Assert.Equal(1, padded[0][1 * 10 + 0]);
        Assert.Equal(1.0, padded.Areas()[0]);
        var crop = m.Crop(0, 1, 3, 3);
        Assert.Equal((2, 3), (crop.Height, crop.Width));
        Assert.Equal(1, crop[0][0]);
        var big = m.Resize(8, 12);
        Assert.Equal(4.0, big.Areas()[0]);
        Assert.Equal([0f, 1f, 1f, 2f], m.GetBboxes());
    }

    [Fact]
    public void Bitmap_crop_and_resize_is_roi_align_aligned_then_threshold()
    {
        // left half on: the RoI over the whole image at 2x2 gives [1 0; 1 0]
        var m = new BitmapMasks([Plane(4, 4, (y, x) => x < 2)], 4, 4);
        Assert.Equal([1f, 0f, 1f, 0f], m.CropAndResize([0, 0, 4, 4], [0], 2, 2));
        // a RoI inside the set region is all ones; one over the empty half all zeros
        Assert.All(m.CropAndResize([0, 0, 2, 4], [0], 3, 3), v => Assert.Equal(1f, v));
        Assert.All(m.CropAndResize([2.5f, 0, 4, 4], [0], 3, 3), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void Roi_align_averages_bilinear_samples_like_mmcv()
    {
        // 2x2 plane [[0, 1], [1, 1]], RoI [0, 0, 2, 2], 1x1 output: grid 2x2 samples at (0, 0), (0, 1), (1, 0), (1, 1) after -0.5
        var outp = new float[1];
        RoiAlign.AlignedAverage(new byte[] { 0, 1, 1, 1 }, 2, 2, [0, 0, 2, 2], 1, 1, outp);
        Assert.Equal(0.75f, outp[0], 6);
    }

    [Fact]
    public void Polygon_masks_transform_vertices_and_rasterise_as_pycocotools()
    {
        double[] square = [1, 1, 5, 1, 5, 3, 1, 3];
        var pm = new PolygonMasks([[square]], 10, 20);

        Assert.Equal(8.0, pm.Areas()[0]);
        Assert.Equal([19.0, 1, 15, 1, 15, 3, 19, 3], pm.Flip(FlipDirection.Horizontal)[0][0]);
        Assert.Equal([2.0, 2, 10, 2, 10, 6, 2, 6], pm.Resize(20, 40)[0][0]);
        Assert.Equal([0.0, 0, 4, 0, 4, 2, 0, 2], pm.Crop(1, 1, 9, 9)[0][0]);
        Assert.Equal([0.0, 1, 0, 1, 0, 3, 0, 3], pm.Translate(10, 20, -6, AxisDirection.Horizontal)[0][0]);
        var bitmap = pm.ToBitmap();
        var rle = RlePolygon.FromPolygon(square, 10, 20);
        Assert.Equal(rle.Decode(), bitmap[0]);
        Assert.Equal((double)rle.Area(), bitmap.Areas()[0]);
        // crop_and_resize: the square's own box at 4x8 covers everything
        var target = pm.CropAndResize([1, 1, 5, 3], [0], 4, 8);
        Assert.Equal(32, target.Count(v => v == 1f));
    }

    [Fact]
    public void Rotation_moves_polygons_and_bitmaps_alike()
    {
        double[] poly = [10, 10, 30, 10, 30, 20, 10, 20];
        var pm = new PolygonMasks([[poly]], 40, 50);
        var bm = pm.ToBitmap();
        var rp = pm.Rotate(40, 50, 15, 24.5, 19.5).ToBitmap();
        var rb = bm.Rotate(40, 50, 15, 24.5, 19.5);
        Assert.InRange(rb.Areas()[0], rp.Areas()[0] * 0.9, rp.Areas()[0] * 1.1);
        // clockwise (image coordinates, y down): the right end of the box moves down
        var m = ImageGeometry.RotationMatrix(24.5, 19.5, 90, 1);
        Assert.Equal(24.5 + 0, m[0] * 34.5 + m[1] * 19.5 + m[2], 6);
        Assert.Equal(19.5 + 10, m[3] * 34.5 + m[4] * 19.5 + m[5], 6);
    }

    [Theory]
    [InlineData(2048, 1024, 2048, 800, 1600, 800)]
    [InlineData(640, 480, 1333, 800, 1067, 800)]
    [InlineData(2048, 1536, 1333, 800, 1067, 800)]
    public void Rescale_size_rounds_as_mmcv(int w, int h, int a, int b, int ew, int eh)
    {
        var (nw, nh, _) = ImageGeometry.RescaleSize(w, h, a, b);
        Assert.Equal((ew, eh), (nw, nh));
    }
}

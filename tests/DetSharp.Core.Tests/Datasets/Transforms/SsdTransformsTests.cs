using System.Text.Json;
using DetSharp.Config;
using DetSharp.Core.Tests.TestSupport;
using DetSharp.Datasets;
using DetSharp.Datasets.Transforms;
using DetSharp.TestSupport;
using OpenCvSharp;

namespace DetSharp.Core.Tests.Datasets.Transforms;

/// <summary>
/// SSD's augmentations against MMDetection 2.28.2 with the random draws replayed (<c>tests/fixtures/mmdet-2.28/ssd/
/// ssd_transforms.json</c>, made by <c>tools/oracle/ssd_transforms.py</c>): Expand, MinIoURandomCrop and
/// PhotoMetricDistortion alone, and SSD300's whole training pipeline (Expand, MinIoURandomCrop, Resize 300×300 without
/// keeping the ratio, RandomFlip, PhotoMetricDistortion, Normalize). Every draw MMDetection made must be consumed, no more.
/// </summary>
public sealed class SsdTransformsTests
{
    private static readonly JsonDocument Fixture = JsonDocument.Parse(File.ReadAllText(
        Path.Combine(RepoPaths.Root, "tests", "fixtures", "mmdet-2.28", "ssd", "ssd_transforms.json")));

    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var c in Fixture.RootElement.GetProperty("cases").EnumerateObject()) data.Add(c.Name);
        return data;
    }

    /// <summary>The fixture's input: 90×120 BGR uint8, pixel (y, x, c) = (3x + 5y + 40c + (x·y) mod 7) mod 256, three boxes.</summary>
    private static DetSample Input()
    {
        var data = new byte[90 * 120 * 3];
        for (int y = 0; y < 90; y++)
            for (int x = 0; x < 120; x++)
                for (int c = 0; c < 3; c++) data[(y * 120 + x) * 3 + c] = (byte)((3 * x + 5 * y + 40 * c + x * y % 7) % 256);
        var s = new DetSample();
        s.SetImg(Mat.FromPixelData(90, 120, MatType.CV_8UC3, data).Clone());
        s.ImgShape = s.OriShape = new ImageShape(90, 120, 3);
        s.GtBboxes = [10, 12, 50, 70, 60, 20, 110, 80, 30, 40, 45, 55];
        s.GtLabels = [0, 1, 2];
        s.GtBboxesIgnore = [];
        s.BboxFields = ["gt_bboxes_ignore", "gt_bboxes"];
        return s;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void SameResultAsMmdetection_WithTheSameDraws(string name)
    {
        var c = Fixture.RootElement.GetProperty("cases").GetProperty(name);
        var pipeline = Compose.FromConfig(c.GetProperty("transforms").EnumerateArray().Select(t => (ConfigDict)TransformParity.ToConfig(t)!));
        var rng = new ReplayedRandom(c.GetProperty("draws").EnumerateArray().Select(v => v.GetDouble()).ToArray());
        using var s = pipeline.Apply(Input(), rng)!;
        Assert.Equal(c.GetProperty("draws").GetArrayLength(), rng.Used);

        var r = c.GetProperty("result");
        var img = s.Img!;
        Assert.Equal(r.GetProperty("img_shape").EnumerateArray().Select(v => v.GetInt32()), [img.Rows, img.Cols, img.Channels()]);
        Assert.Equal(r.GetProperty("dtype").GetString() == "uint8" ? MatType.CV_8U : MatType.CV_32F, img.Depth());
        Assert.Equal((img.Rows, img.Cols), (s.ImgShape.Height, s.ImgShape.Width));
        Assert.Equal(r.GetProperty("gt_labels").EnumerateArray().Select(v => v.GetInt64()), s.GtLabels!);
        var boxes = r.GetProperty("gt_bboxes").EnumerateArray().SelectMany(b => b.EnumerateArray().Select(v => v.GetDouble())).ToArray();
        Assert.Equal(boxes.Length, s.GtBboxes!.Length);
        for (int i = 0; i < boxes.Length; i++) Assert.True(Math.Abs(boxes[i] - s.GtBboxes[i]) <= 1e-3, $"gt_bboxes[{i}]: {boxes[i]} vs {s.GtBboxes[i]}");
        if (r.GetProperty("flip").ValueKind is JsonValueKind.True or JsonValueKind.False) Assert.Equal(r.GetProperty("flip").GetBoolean(), s.Flip);

        using var f64 = new Mat();
        img.ConvertTo(f64, MatType.CV_64FC3);
        var sums = Cv2.Sum(f64);
        var expectedSums = r.GetProperty("channel_sums").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        double scale = expectedSums.Max(Math.Abs) + img.Rows * img.Cols;
        for (int k = 0; k < 3; k++)
            Assert.True(Math.Abs(expectedSums[k] - sums[k]) <= 1e-4 * scale, $"channel {k} sum: {expectedSums[k]} vs {sums[k]}");
        // uint8 results exactly; float ones (colour conversions, resize) within one grey level.
        double tol = img.Depth() == MatType.CV_8U && !name.Contains("pipeline", StringComparison.Ordinal) ? 0 : 1.0;
        foreach (var p in r.GetProperty("pixels").EnumerateArray())
        {
            var v = p.EnumerateArray().Select(x => x.GetDouble()).ToArray();
            var actual = f64.At<Vec3d>((int)v[0], (int)v[1]);
            for (int k = 0; k < 3; k++)
                Assert.True(Math.Abs(v[2 + k] - actual[k]) <= tol, $"pixel ({v[0]}, {v[1]}) channel {k}: {v[2 + k]} vs {actual[k]}");
        }
    }
}

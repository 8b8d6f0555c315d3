using System.Text.Json;
using DetSharp.Core.Tests.TestSupport;
using DetSharp.Structures;

namespace DetSharp.Core.Tests.Structures;

public class RleTests
{
    [Fact]
    public void EncodeDecodeRoundTripsColumnMajor()
    {
        // 3x4 row-major mask
        byte[] mask =
        [
            0, 1, 1, 0,
            0, 1, 0, 0,
            1, 1, 0, 0,
        ];
        var rle = Rle.Encode(mask, 3, 4);
        Assert.Equal(new uint[] { 2, 5, 5 }, rle.Counts); // columns: 001 111 100 000
        Assert.Equal(5u, rle.Area());
        Assert.Equal(new BoxXywh(0, 0, 3, 3), rle.ToBbox());
        Assert.Equal(mask, rle.Decode());
        var back = Rle.FromCompressedString(rle.ToCompressedString(), 3, 4);
        Assert.Equal(rle.Counts, back.Counts);
    }

    [Fact]
    public void CompressedStringRoundTripsLargeAndDecreasingRuns()
    {
        var rle = new Rle(1000, 1000, [5, 100000, 3, 2, 700000, 1, 199889]);
        var s = rle.ToCompressedString();
        Assert.Equal(rle.Counts, Rle.FromCompressedString(s, 1000, 1000).Counts);
    }

    [Fact]
    public void MergeUnionAndIntersection()
    {
        var a = Rle.Encode([1, 1, 0, 0], 2, 2);
        var b = Rle.Encode([0, 1, 1, 0], 2, 2);
        Assert.Equal(new byte[] { 1, 1, 1, 0 }, Rle.Merge(a, b).Decode());
        Assert.Equal(new byte[] { 0, 1, 0, 0 }, Rle.Merge([a, b], intersect: true).Decode());
        var c = Rle.Encode([1, 1, 1], 1, 3);
        Assert.Equal(0, Rle.Merge(a, c).Height);
    }

    [Fact]
    public void BoxIouUsesDetectionAreaForCrowd()
    {
        BoxXywh[] dt = [new(0, 0, 10, 10)];
        BoxXywh[] gt = [new(5, 0, 10, 10), new(5, 0, 10, 10)];
        var iou = new double[2];
        MaskIou.BoxIou(dt, gt, [false, true], iou);
        Assert.Equal(50.0 / 150.0, iou[0]);
        Assert.Equal(0.5, iou[1]);
    }

    [SharedFact]
    public void BalloonPolygonsMatchPycocotools()
    {
        using var gt = RepoPaths.LoadSharedJson("datasets", "balloon", "val", "annotation_coco.json");
        using var fx = RepoPaths.LoadSharedJson("fixtures", "mmdet", "rle", "rle_fixtures.json");
        using var fx2 = RepoPaths.LoadSharedJson("fixtures", "mmdet", "rle", "pycocotools_rle.json");
        var images = gt.RootElement.GetProperty("images").EnumerateArray()
            .ToDictionary(i => i.GetProperty("id").GetInt64(), i => (h: i.GetProperty("height").GetInt32(), w: i.GetProperty("width").GetInt32()));
        var anns = gt.RootElement.GetProperty("annotations").EnumerateArray().ToArray();
        var expected = fx.RootElement.GetProperty("balloon_val_annotations").EnumerateArray().ToArray();
        var expected2 = fx2.RootElement.GetProperty("balloon_val_polygon_rles").EnumerateArray().ToArray();
        Assert.Equal(50, anns.Length);
        Assert.Equal(anns.Length, expected.Length);
        for (int i = 0; i < anns.Length; i++)
        {
            var (h, w) = images[anns[i].GetProperty("image_id").GetInt64()];
            var rles = RleConvert.FrPyObjects(anns[i].GetProperty("segmentation"), h, w);
            var rle = Rle.Merge(rles.ToArray());
            var e = expected[i];
            Assert.Equal(e.GetProperty("counts").GetString(), rle.ToCompressedString());
            Assert.Equal(e.GetProperty("area").GetUInt32(), rle.Area());
            AssertBox(e.GetProperty("toBbox"), rle.ToBbox());
            Assert.Equal(expected2[i].GetProperty("counts").GetString(), rle.ToCompressedString());
            AssertBox(expected2[i].GetProperty("bbox"), rle.ToBbox());
            Assert.Equal(e.GetProperty("size")[0].GetInt32(), rle.Height);
            // the string parses back to the same runs
            Assert.Equal(rle.Counts, Rle.FromCompressedString(rle.ToCompressedString(), h, w).Counts);
        }
    }

    [SharedFact]
    public void CrowdUncompressedRlesMatchPycocotools()
    {
        using var gt = RepoPaths.LoadSharedJson("datasets", "coco_mini", "annotations", "instances_val2017.json");
        using var fx = RepoPaths.LoadSharedJson("fixtures", "mmdet", "rle", "rle_fixtures.json");
        var anns = gt.RootElement.GetProperty("annotations").EnumerateArray().ToDictionary(a => a.GetProperty("id").GetInt64());
        int n = 0;
        foreach (var e in fx.RootElement.GetProperty("coco_mini_val_crowd").EnumerateArray())
        {
            var ann = anns[e.GetProperty("ann_id").GetInt64()];
            var seg = ann.GetProperty("segmentation");
            var rle = RleConvert.FrPyObjects(seg, 0, 0)[0];
            Assert.Equal(e.GetProperty("uncompressed_counts_len").GetInt32(), rle.Counts.Length);
            Assert.Equal(e.GetProperty("counts").GetString(), rle.ToCompressedString());
            Assert.Equal(e.GetProperty("area").GetUInt32(), rle.Area());
            AssertBox(e.GetProperty("toBbox"), rle.ToBbox());
            n++;
        }
        Assert.Equal(5, n);
    }

    [SharedFact]
    public void IouMatricesMatchPycocotools()
    {
        using var fx = RepoPaths.LoadSharedJson("fixtures", "mmdet", "rle", "rle_fixtures.json");
        using var balloon = RepoPaths.LoadSharedJson("datasets", "balloon", "val", "annotation_coco.json");
        using var mini = RepoPaths.LoadSharedJson("datasets", "coco_mini", "annotations", "instances_val2017.json");
        CheckIou(fx.RootElement.GetProperty("iou_image0"), balloon.RootElement);
        CheckIou(fx.RootElement.GetProperty("iou_image2"), balloon.RootElement);
        CheckIou(fx.RootElement.GetProperty("coco_mini_val_mixed_crowd_iou"), mini.RootElement);
    }

    private static void CheckIou(JsonElement fixture, JsonElement dataset)
    {
        long imageId = fixture.GetProperty("image_id").GetInt64();
        var image = dataset.GetProperty("images").EnumerateArray().First(i => i.GetProperty("id").GetInt64() == imageId);
        int h = image.GetProperty("height").GetInt32(), w = image.GetProperty("width").GetInt32();
        var anns = dataset.GetProperty("annotations").EnumerateArray().ToDictionary(a => a.GetProperty("id").GetInt64());
        var ids = fixture.GetProperty("ann_ids").EnumerateArray().Select(x => x.GetInt64()).ToArray();
        var crowd = fixture.GetProperty("iscrowd").EnumerateArray().Select(x => x.GetInt32() != 0).ToArray();
        var rles = ids.Select(id => CocoSegmentation.Parse(anns[id].GetProperty("segmentation"), "test").ToRle(h, w)).ToArray();
        var boxes = ids.Select(id => BoxXywh.FromSpan(anns[id].GetProperty("bbox").EnumerateArray().Select(v => v.GetDouble()).ToArray())).ToArray();
        if (fixture.TryGetProperty("areas", out var areas))
            Assert.Equal(areas.EnumerateArray().Select(a => a.GetUInt32()), rles.Select(r => r.Area()));
        var segm = MaskIou.RleIou(rles, rles, crowd);
        var bbox = MaskIou.BoxIou(boxes, boxes, crowd);
        AssertMatrix(fixture.GetProperty("segm_iou"), segm);
        AssertMatrix(fixture.GetProperty("bbox_iou"), bbox);
    }

    [SharedFact]
    public void DecodedRowSumsMatchPycocotools()
    {
        using var fx = RepoPaths.LoadSharedJson("fixtures", "mmdet", "rle", "rle_fixtures.json");
        using var balloon = RepoPaths.LoadSharedJson("datasets", "balloon", "val", "annotation_coco.json");
        using var mini = RepoPaths.LoadSharedJson("datasets", "coco_mini", "annotations", "instances_val2017.json");
        var all = balloon.RootElement.GetProperty("annotations").EnumerateArray()
            .Concat(mini.RootElement.GetProperty("annotations").EnumerateArray())
            .ToDictionary(a => a.GetProperty("id").GetInt64());
        int n = 0;
        foreach (var e in fx.RootElement.GetProperty("decode_check").EnumerateArray())
        {
            int h = e.GetProperty("size")[0].GetInt32(), w = e.GetProperty("size")[1].GetInt32();
            var rle = CocoSegmentation.Parse(all[e.GetProperty("ann_id").GetInt64()].GetProperty("segmentation"), "test").ToRle(h, w);
            var mask = rle.Decode();
            Assert.Equal(e.GetProperty("total_foreground").GetInt64(), mask.Sum(b => (long)b));
            Assert.Equal(e.GetProperty("fg_per_row_first50").EnumerateArray().Select(v => v.GetInt32()), RowSums(mask, w, 0, 50));
            if (e.TryGetProperty("fg_per_row_from_bbox_top_50", out var fromTop))
            {
                int top = e.GetProperty("bbox_top_row").GetInt32();
                Assert.Equal(top, (int)rle.ToBbox().Y);
                Assert.Equal(fromTop.EnumerateArray().Select(v => v.GetInt32()), RowSums(mask, w, top, 50));
            }
            Assert.Equal(rle.Counts, Rle.Encode(mask, h, w).Counts);
            n++;
        }
        Assert.Equal(3, n);
    }

    [SharedFact]
    public void BoxToRleMatchesPycocotools()
    {
        using var fx = RepoPaths.LoadSharedJson("fixtures", "mmdet", "rle", "pycocotools_rle.json");
        var e = fx.RootElement.GetProperty("bbox_to_rle");
        var rle = RleConvert.FrPyObjects(JsonDocument.Parse("[[10.5, 20.25, 30.0, 40.75]]").RootElement, 100, 120)[0];
        Assert.Equal(e.GetProperty("counts").GetString(), rle.ToCompressedString());
        Assert.Equal(e.GetProperty("area").GetUInt32(), rle.Area());
        Assert.Equal(rle.Counts, RlePolygon.FromBbox(new BoxXywh(10.5, 20.25, 30.0, 40.75), 100, 120).Counts);
    }

    private static int[] RowSums(byte[] mask, int width, int firstRow, int rows)
    {
        var sums = new int[rows];
        for (int r = 0; r < rows; r++)
            for (int x = 0; x < width; x++) sums[r] += mask[(firstRow + r) * width + x];
        return sums;
    }

    private static void AssertBox(JsonElement expected, BoxXywh actual)
    {
        Assert.Equal(expected[0].GetDouble(), actual.X);
        Assert.Equal(expected[1].GetDouble(), actual.Y);
        Assert.Equal(expected[2].GetDouble(), actual.W);
        Assert.Equal(expected[3].GetDouble(), actual.H);
    }

    private static void AssertMatrix(JsonElement expected, double[,] actual)
    {
        int rows = expected.GetArrayLength();
        Assert.Equal(rows, actual.GetLength(0));
        for (int i = 0; i < rows; i++)
        {
            var row = expected[i];
            Assert.Equal(row.GetArrayLength(), actual.GetLength(1));
            for (int j = 0; j < row.GetArrayLength(); j++)
            {
                double e = row[j].GetDouble(), a = actual[i, j];
                // fixture values carry 6 significant digits
                Assert.True(Math.Abs(e - a) <= 5e-6 * Math.Max(Math.Abs(e), 1e-300) + 1e-300 || e == a,
                    $"iou[{i},{j}]: expected {e}, got {a}");
            }
        }
    }
}

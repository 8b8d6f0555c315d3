using DetSharp.Core.Tests.Parity;
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
        ParityAssert.AllPass(RleParity.Measure("rle_fixtures.json: balloon_val_annotations")
            .Concat(RleParity.Measure("pycocotools_rle.json: balloon_val_polygon_rles")));
        var rles = RleParity.BalloonValRles();
        Assert.Equal(50, rles.Count);
        // the string parses back to the same runs
        foreach (var (_, rle) in rles)
            Assert.Equal(rle.Counts, Rle.FromCompressedString(rle.ToCompressedString(), rle.Height, rle.Width).Counts);
    }

    [SharedFact]
    public void CrowdUncompressedRlesMatchPycocotools()
    {
        ParityAssert.AllPass(RleParity.Measure("rle_fixtures.json: coco_mini_val_crowd"));
        using var fx = SharedData.LoadJson("fixtures", "mmdet", "rle", "rle_fixtures.json");
        Assert.Equal(5, fx.RootElement.GetProperty("coco_mini_val_crowd").GetArrayLength());
    }

    [SharedFact]
    public void IouMatricesMatchPycocotools() =>
        ParityAssert.AllPass(new[] { "iou_image0", "iou_image2", "coco_mini_val_mixed_crowd_iou" }.SelectMany(k => RleParity.Measure("rle_fixtures.json: " + k)));

    [SharedFact]
    public void DecodedRowSumsMatchPycocotools()
    {
        ParityAssert.AllPass(RleParity.Measure("rle_fixtures.json: decode_check"));
        var rles = RleParity.DecodeCheckRles();
        Assert.Equal(3, rles.Count);
        foreach (var rle in rles) Assert.Equal(rle.Counts, Rle.Encode(rle.Decode(), rle.Height, rle.Width).Counts);
    }

    [SharedFact]
    public void BoxToRleMatchesPycocotools()
    {
        ParityAssert.AllPass(RleParity.Measure("pycocotools_rle.json: bbox_to_rle"));
        Assert.Equal(RleParity.BoxToRle().Counts, RlePolygon.FromBbox(new BoxXywh(10.5, 20.25, 30.0, 40.75), 100, 120).Counts);
    }
}

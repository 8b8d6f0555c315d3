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

    // The comparisons with pycocotools' strings, areas, boxes and IoUs (fixtures/mmdet/rle) run once, in the parity suite
    // (DetSharp.Tests, MmdetParitySuite, family "rle"); these check what those values do not show.

    [SharedFact]
    public void Balloon_polygon_rles_parse_back_from_their_strings()
    {
        var rles = RleParity.BalloonValRles();
        Assert.Equal(50, rles.Count);
        foreach (var (_, rle) in rles)
            Assert.Equal(rle.Counts, Rle.FromCompressedString(rle.ToCompressedString(), rle.Height, rle.Width).Counts);
    }

    [SharedFact]
    public void Decode_check_rles_encode_back_to_the_same_runs()
    {
        var rles = RleParity.DecodeCheckRles();
        Assert.Equal(3, rles.Count);
        foreach (var rle in rles) Assert.Equal(rle.Counts, Rle.Encode(rle.Decode(), rle.Height, rle.Width).Counts);
    }

    [SharedFact]
    public void A_box_through_frPyObjects_equals_RlePolygon_FromBbox()
    {
        Assert.Equal(RleParity.BoxToRle().Counts, RlePolygon.FromBbox(new BoxXywh(10.5, 20.25, 30.0, 40.75), 100, 120).Counts);
    }
}

using DetSharp.Config;
using DetSharp.Models.DenseHeads;
using DetSharp.Registry;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.DenseHeads;

/// <summary>FCOS's targets and centerness, worked by hand on a 2×2 map of stride 8.</summary>
public sealed class FCOSHeadTests
{
    private static FCOSHead SmallHead()
    {
        ComponentRegistration.EnsureRegistered();
        var cfg = new ConfigDict
        {
            ["type"] = "FCOSHead", ["num_classes"] = 3L, ["in_channels"] = 4L, ["feat_channels"] = 4L, ["stacked_convs"] = 1L,
            ["strides"] = new ConfigList([8L]), ["regress_ranges"] = new ConfigList([new ConfigList([-1L, 64L])]), ["norm_cfg"] = null,
        };
        return Registries.Models.Build<FCOSHead>(cfg);
    }

    [Fact]
    public void PointsAreCellCentres_AndEachTakesTheSmallestGtThatContainsIt()
    {
        using var head = SmallHead();
        var points = head.PriorGenerator.GridPriors([(2L, 2L)]);
        Assert.Equal([4f, 4, 12, 4, 4, 12, 12, 12], points[0].reshape(-1).data<float>().ToArray());

        // GT a (0,0)-(10,10), label 1, area 100, contains only the point (4,4); GT b (2,2)-(14,14), label 0, area 144,
        // contains all four points. (4,4) goes to the smaller a; the others to b.
        var gt = tensor(new float[] { 0, 0, 10, 10, 2, 2, 14, 14 }).reshape(2, 4);
        var labels = tensor(new long[] { 1, 0 });
        var (lab, tgt) = head.GetTargets(points, [gt], [labels]);

        Assert.Equal([1L, 0L, 0L, 0L], lab[0].data<long>().ToArray());
        Assert.Equal([4f, 4, 6, 6, /* (12,4) from b: */ 10, 2, 2, 10, /* (4,12): */ 2, 10, 10, 2, /* (12,12): */ 10, 10, 2, 2],
            tgt[0].reshape(-1).data<float>().ToArray());
    }

    [Fact]
    public void PointsOutsideEveryGtOrTheirLevelsRange_AreBackground()
    {
        using var head = SmallHead();
        var points = head.PriorGenerator.GridPriors([(2L, 2L)]);
        // Contains (4,4) and (12,4), but their largest distances (76 and 68, to the right edge) exceed the level's
        // range (-1, 64); (4,12) and (12,12) lie below it.
        var gt = tensor(new float[] { 0, 0, 80, 10 }).reshape(1, 4);
        var (lab, _) = head.GetTargets(points, [gt], [tensor(new long[] { 2 })]);
        Assert.Equal([3L, 3L, 3L, 3L], lab[0].data<long>().ToArray()); // background = num_classes
    }

    [Fact]
    public void CenternessTarget_IsTheGeometricMeanOfTheSideRatios()
    {
        // (l, t, r, b) = (2, 4, 8, 4): sqrt(2/8 · 4/4) = 0.5; a centred point scores 1.
        var c = FCOSHead.CenternessTarget(tensor(new float[] { 2, 4, 8, 4, 5, 5, 5, 5 }).reshape(2, 4));
        Assert.Equal([0.5f, 1f], c.data<float>().ToArray());
    }
}

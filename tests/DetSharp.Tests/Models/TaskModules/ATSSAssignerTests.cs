using DetSharp.Models.TaskModules;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.TaskModules;

/// <summary>
/// ATSSAssigner on four 10×10 anchors tiling (0,0)-(20,20), worked by hand (and confirmed with MMDetection 2.28.2).
/// GT g = (0,0)-(12,12), centre (6,6): the anchor centres lie 1.41, 9.06, 9.06 and 12.7 from it; IoUs with g are
/// a0 100/144 = 0.694, a1 = a2 = 20/224 = 0.089, a3 = 4/240 = 0.017.
/// </summary>
public sealed class ATSSAssignerTests
{
    private static readonly Tensor Anchors = tensor(new float[] { 0, 0, 10, 10, 10, 0, 20, 10, 0, 10, 10, 20, 10, 10, 20, 20 }, [4, 4]);
    private static readonly Tensor G = tensor(new float[] { 0, 0, 12, 12 }, [1, 4]);

    private static long[] Inds(AssignResult r) => r.GtInds.data<long>().ToArray();

    [Fact]
    public void TopkClosest_ThresholdIsMeanPlusStdOfTheirIous()
    {
        // Top 3 = a0, a1, a2: IoU mean 0.291 + unbiased std 0.349 = 0.640; only a0 (0.694) reaches it.
        var r = new ATSSAssigner(3).Assign(Anchors, [4], G, null, tensor(new long[] { 2 }));
        Assert.Equal([1L, 0, 0, 0], Inds(r));
        Assert.Equal([2L, -1, -1, -1], r.Labels!.data<long>().ToArray());
        Assert.Equal(100f / 144, r.MaxOverlaps[0].item<float>(), 5);
    }

    [Fact]
    public void ACandidateAboveTheThresholdButCentredOutsideTheGt_IsNegative()
    {
        // g' = (0,0)-(12,4.9): a0 has IoU 49/109.8 = 0.446 above the threshold 0.412, but its centre (5,5) lies below y2.
        var r = new ATSSAssigner(3).Assign(Anchors, [4], tensor(new float[] { 0, 0, 12, 4.9f }, [1, 4]));
        Assert.Equal([0L, 0, 0, 0], Inds(r));
        Assert.Null(r.Labels);
    }

    [Fact]
    public void AnAnchorPositiveForTwoGts_TakesTheOneItOverlapsMost()
    {
        // g2 = (0,0)-(10,11): top 3 a0, a2, a1 with IoUs 0.909, 0.05, 0 → threshold 0.831; a0 is positive for g (0.694)
        // and g2 (0.909) and takes g2.
        var gts = tensor(new float[] { 0, 0, 12, 12, 0, 0, 10, 11 }, [2, 4]);
        var r = new ATSSAssigner(3).Assign(Anchors, [4], gts, null, tensor(new long[] { 2, 1 }));
        Assert.Equal([2L, 0, 0, 0], Inds(r));
        Assert.Equal(1L, r.Labels![0].item<long>());
        Assert.Equal(100f / 110, r.MaxOverlaps[0].item<float>(), 5);
    }

    [Fact]
    public void CandidatesAreTakenPerLevel_AtMostTheLevelsSize()
    {
        // A second level with one anchor (0,0)-(20,20) (IoU 0.36) adds one candidate: threshold 0.308 + 0.287 = 0.596.
        var anchors = cat([Anchors, tensor(new float[] { 0, 0, 20, 20 }, [1, 4])]);
        Assert.Equal([1L, 0, 0, 0, 0], Inds(new ATSSAssigner(3).Assign(anchors, [4, 1], G)));
        Assert.Throws<ArgumentException>(() => new ATSSAssigner(3).Assign(anchors, [4, 2], G));
    }

    [Fact]
    public void AnchorsCoveredByAnIgnoredBox_AreIgnoredAndNeverCandidates()
    {
        // a0 lies inside the ignored box (IoF 1 > 0.5): -1, and the candidates become a1, a2, a3 (threshold 0.107): none.
        var ignore = tensor(new float[] { 0, 0, 10, 10 }, [1, 4]);
        Assert.Equal([-1L, 0, 0, 0], Inds(new ATSSAssigner(3, ignoreIofThr: 0.5).Assign(Anchors, [4], G, ignore)));
        // Without ignore_iof_thr the ignored boxes change nothing.
        Assert.Equal([1L, 0, 0, 0], Inds(new ATSSAssigner(3).Assign(Anchors, [4], G, ignore)));
    }

    [Fact]
    public void NoGt_EverythingNegative()
    {
        var r = new ATSSAssigner(9).Assign(Anchors, [4], zeros(0, 4), null, zeros(0, ScalarType.Int64));
        Assert.Equal([0L, 0, 0, 0], Inds(r));
        Assert.Equal([-1L, -1, -1, -1], r.Labels!.data<long>().ToArray());
    }
}

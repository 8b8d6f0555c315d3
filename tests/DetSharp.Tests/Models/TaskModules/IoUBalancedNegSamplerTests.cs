using DetSharp.Models.TaskModules;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.TaskModules;

/// <summary>
/// IoUBalancedNegSampler's draws worked out from MMDetection's <c>_sample_neg</c> / <c>sample_via_interval</c>: 10
/// positives (IoU 0.7) and 280 negatives — 100 at IoU 0, 60 each at 0.05, 0.15 and 0.25 — with num 40 and
/// pos_fraction 0.25, so 30 negatives are wanted.
/// </summary>
public sealed class IoUBalancedNegSamplerTests
{
    private static (AssignResult Assign, Tensor Boxes) Proposals()
    {
        var ious = Enumerable.Repeat(0.7, 10).Concat(Enumerable.Repeat(0.0, 100)).Concat(Enumerable.Repeat(0.05, 60))
            .Concat(Enumerable.Repeat(0.15, 60)).Concat(Enumerable.Repeat(0.25, 60)).ToArray();
        var gtInds = tensor(ious.Select((iou, i) => i < 10 ? 1L : 0L).ToArray());
        var assign = new AssignResult(1, gtInds, tensor(ious.Select(v => (float)v).ToArray()), null);
        return (assign, rand(ious.Length, 4) * 50);
    }

    private static double[] NegativeIous(IoUBalancedNegSampler sampler, out long positives)
    {
        var (assign, boxes) = Proposals();
        var result = sampler.Sample(assign, boxes, zeros(1, 4));
        positives = result.PosInds.numel();
        var ious = assign.MaxOverlaps.to_type(ScalarType.Float64);
        return ious.index_select(0, result.NegInds).data<double>().ToArray();
    }

    [Fact]
    public void FloorThrZero_SamplesIouAboveZeroByBins_ThenFillsFromThem()
    {
        manual_seed(0);
        var sampler = new IoUBalancedNegSampler(40, 0.25, floorThr: 0, floorFraction: 0, numBins: 3, addGtAsProposals: false);
        var neg = NegativeIous(sampler, out long positives);
        Assert.Equal(10, positives);
        Assert.Equal(30, neg.Length);
        // Bins of width 0.7 / 3 over (0, 0.7]: [0, 0.233) holds the 0.05 and 0.15 boxes, [0.233, 0.467) the 0.25 ones,
        // the last none. 10 are taken from each of the first two, the missing 10 from the rest of IoU > 0.
        Assert.DoesNotContain(0.0, neg);
        Assert.True(neg.Count(v => Math.Abs(v - 0.25) < 1e-6) >= 10);
        Assert.True(neg.Count(v => v < 0.2) >= 10);
    }

    [Fact]
    public void FloorFraction_TakesItsShareFromBelowTheFloor()
    {
        manual_seed(0);
        var sampler = new IoUBalancedNegSampler(40, 0.25, floorThr: 0.1, floorFraction: 0.5, numBins: 1, addGtAsProposals: false);
        var neg = NegativeIous(sampler, out _);
        // 15 at random from IoU >= 0.1 (num_bins 1), the other 15 from [0, 0.1).
        Assert.Equal(15, neg.Count(v => v >= 0.1));
        Assert.Equal(15, neg.Count(v => v < 0.1));
    }

    [Fact]
    public void FloorThrMinusOne_BinsEveryNegativeOnTheFirstCall_ThenBehavesAsFloorThrZero()
    {
        manual_seed(0);
        var sampler = new IoUBalancedNegSampler(40, 0.25, floorThr: -1, floorFraction: 0, numBins: 3, addGtAsProposals: false);
        // First call: all 280 negatives are candidates; the first bin [0, 0.233) holds 220 of them, the second 60.
        var first = NegativeIous(sampler, out _);
        Assert.Equal(30, first.Length);
        Assert.True(first.Count(v => Math.Abs(v - 0.25) < 1e-6) >= 10);
        // mmdet set floor_thr to 0 during that call: IoU-0 boxes now come only from the floor, which gets nothing here.
        var second = NegativeIous(sampler, out _);
        Assert.DoesNotContain(0.0, second);
    }

    [Fact]
    public void FewNegatives_AreAllTaken()
    {
        var ious = new float[] { 0.8f, 0.1f, 0.0f, 0.3f };
        var assign = new AssignResult(1, tensor(new long[] { 1, 0, 0, 0 }), tensor(ious), null);
        var result = new IoUBalancedNegSampler(40, 0.25, addGtAsProposals: false).Sample(assign, rand(4, 4), zeros(1, 4));
        Assert.Equal(new long[] { 1, 2, 3 }, result.NegInds.data<long>().ToArray());
    }
}

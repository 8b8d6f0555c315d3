using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Models.TaskModules;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.TaskModules;

/// <summary>
/// Libra R-CNN's samplers, counts worked out by hand from MMDetection's <c>InstanceBalancedPosSampler._sample_pos</c> and
/// <c>CombinedSampler</c> / <c>BaseSampler.sample</c>. Which boxes a random pick takes may differ from mmdet's (it walks
/// Python sets, DetSharp ascending indices), so only counts per GT instance / IoU are checked.
/// </summary>
public sealed class LibraSamplerTests
{
    /// <summary>Boxes assigned to GT 1, 2, ... (counts as given), then <paramref name="negativeIous"/>' negatives.</summary>
    private static AssignResult Assign(int[] perGt, double[] negativeIous)
    {
        var gtInds = perGt.SelectMany((n, g) => Enumerable.Repeat((long)g + 1, n)).Concat(negativeIous.Select(_ => 0L)).ToArray();
        var ious = perGt.SelectMany(n => Enumerable.Repeat(0.9f, n)).Concat(negativeIous.Select(v => (float)v)).ToArray();
        return new AssignResult(perGt.Length, tensor(gtInds), tensor(ious), tensor(gtInds));
    }

    private static long[] PositivesPerGt(AssignResult assign, SamplingResult result, int numGts) =>
        [.. Enumerable.Range(1, numGts).Select(g => (assign.GtInds.index_select(0, result.PosInds) == g).sum().item<long>())];

    [Fact]
    public void InstanceBalanced_CapsEachInstance_AtRoundedShareplusOne()
    {
        manual_seed(0);
        // num 20 · 0.25 = 5 wanted of 12 positives (GT 1: 2, GT 2: 10): round(5 / 2) = 2 (half to even) + 1 = 3 per
        // instance, 2 + 3 = 5 = wanted, so no cut: all of GT 1 and 3 of GT 2. (Rounding half up would allow 4 and cut.)
        var assign = Assign([2, 10], [.. Enumerable.Repeat(0.0, 30)]);
        var sampler = new InstanceBalancedPosSampler(20, 0.25, addGtAsProposals: false);
        var result = sampler.Sample(assign, rand(42, 4) * 50, zeros(2, 4));
        Assert.Equal([2L, 3L], PositivesPerGt(assign, result, 2));
        Assert.Equal(15, result.NegInds.numel());
    }

    [Fact]
    public void InstanceBalanced_CutsASurplusToTheWantedNumber()
    {
        manual_seed(0);
        // 8 wanted of 20 (10 + 10): 4 + 1 = 5 per instance, 10 > 8, so 8 of those 10 at random — each instance 3 to 5.
        var assign = Assign([10, 10], [.. Enumerable.Repeat(0.0, 40)]);
        var result = new InstanceBalancedPosSampler(32, 0.25, addGtAsProposals: false).Sample(assign, rand(60, 4) * 50, zeros(2, 4));
        var perGt = PositivesPerGt(assign, result, 2);
        Assert.Equal(8, perGt.Sum());
        Assert.All(perGt, n => Assert.InRange(n, 3, 5));
    }

    [Fact]
    public void InstanceBalanced_FillsAShortfall_FromAllPositives_AsMmdet()
    {
        // 8 wanted of 13 (10 + 2 + 1): 3 + 1 = 4 per instance gives 4 + 2 + 1 = 7; the one extra is drawn from all 13
        // positives (mmdet's set difference of 0-d tensors removes nothing), so it may repeat one already taken and
        // unique() leaves 7. Over many seeds both happen, never more than 8 nor fewer than 7.
        var assign = Assign([10, 2, 1], [.. Enumerable.Repeat(0.0, 40)]);
        var sampler = new InstanceBalancedPosSampler(32, 0.25, addGtAsProposals: false);
        var totals = new HashSet<long>();
        for (int seed = 0; seed < 30; seed++)
        {
            manual_seed(seed);
            var perGt = PositivesPerGt(assign, sampler.Sample(assign, rand(53, 4) * 50, zeros(3, 4)), 3);
            Assert.Equal(2, perGt[1]);
            Assert.Equal(1, perGt[2]);
            Assert.InRange(perGt[0], 4, 5);
            totals.Add(perGt.Sum());
        }
        Assert.Equal([7L, 8L], totals.Order());
    }

    [Fact]
    public void Combined_BuildsBothSamplersWithItsOwnBudget_AndUsesEach()
    {
        // libra_faster_rcnn's rcnn sampler with num 32: the pos/neg samplers get num, pos_fraction and
        // add_gt_as_proposals from it (mmdet's build_sampler(..., **kwargs)).
        var cfg = new ConfigDict
        {
            ["type"] = "CombinedSampler",
            ["num"] = 32L,
            ["pos_fraction"] = 0.25,
            ["add_gt_as_proposals"] = false,
            ["pos_sampler"] = new ConfigDict { ["type"] = "InstanceBalancedPosSampler" },
            ["neg_sampler"] = new ConfigDict { ["type"] = "IoUBalancedNegSampler", ["floor_thr"] = -1L, ["floor_fraction"] = 0L, ["num_bins"] = 3L },
        };
        var sampler = Builders.TaskModule<IBBoxSampler>(cfg);
        Assert.IsType<CombinedSampler>(sampler);
        manual_seed(0);
        // Positives as InstanceBalancedPosSampler: 10 + 10 -> 8, at most 5 per instance. Negatives: 32 - 8 = 24 of
        // 90 at IoU 0 and 10 at IoU 0.3; floor_thr -1 bins all of them over [-1, 0.9) in thirds: [-0.37, 0.27) holds
        // the IoU-0 boxes, [0.27, 0.9) the 0.3 ones, 8 from each, then 8 more at random — so at least 8 at IoU 0.3,
        // which uniform sampling (2.4 expected) all but never gives.
        double[] negIous = [.. Enumerable.Repeat(0.0, 90), .. Enumerable.Repeat(0.3, 10)];
        var assign = Assign([10, 10], negIous);
        var result = sampler.Sample(assign, rand(120, 4) * 50, zeros(2, 4));
        var perGt = PositivesPerGt(assign, result, 2);
        Assert.Equal(8, perGt.Sum());
        Assert.All(perGt, n => Assert.InRange(n, 3, 5));
        Assert.Equal(24, result.NegInds.numel());
        var neg = assign.MaxOverlaps.index_select(0, result.NegInds).data<float>().ToArray();
        Assert.InRange(neg.Count(v => Math.Abs(v - 0.3f) < 1e-6), 8, 10);
    }
}

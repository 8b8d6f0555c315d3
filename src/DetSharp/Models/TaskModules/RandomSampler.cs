using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.TaskModules;

/// <summary>Samples positives and negatives from an assignment.</summary>
public interface IBBoxSampler
{
    SamplingResult Sample(AssignResult assignResult, Tensor bboxes, Tensor gtBboxes, Tensor? gtLabels = null);
}

/// <summary>
/// MMDetection's <c>RandomSampler</c> (via <c>BaseSampler.sample</c>): optionally prepends the GT boxes as proposals
/// (<c>add_gt_as_proposals</c>), then draws up to <c>num · pos_fraction</c> positives and the rest negatives
/// (at most <c>neg_pos_ub · max(1, #pos)</c> when <c>neg_pos_ub</c> ≥ 0) uniformly at random with torch's generator
/// (<c>randperm</c>); indices come back sorted (<c>unique</c>). Samplers that pick negatives their own way
/// (<see cref="IoUBalancedNegSampler"/>) override <see cref="SampleNeg"/>, those that pick positives their own way
/// (<see cref="InstanceBalancedPosSampler"/>) <see cref="SamplePos"/>; <see cref="CombinedSampler"/> takes each from another sampler.
/// </summary>
[Register(Registries.TaskModulesName, "RandomSampler")]
public class RandomSampler(int num, double posFraction, double negPosUb = -1, bool addGtAsProposals = true) : IBBoxSampler
{
    public int Num { get; } = num;

    public double PosFraction { get; } = posFraction;

    public double NegPosUb { get; } = negPosUb;

    public bool AddGtAsProposals { get; } = addGtAsProposals;

    public SamplingResult Sample(AssignResult assignResult, Tensor bboxes, Tensor gtBboxes, Tensor? gtLabels = null)
    {
        using var scope = NewDisposeScope();
        (bboxes, var gtFlags) = SamplerInputs.Prepare(bboxes, gtBboxes, gtLabels, assignResult, AddGtAsProposals);
        int numExpectedPos = (int)(Num * PosFraction);
        var posInds = SamplePos(assignResult, numExpectedPos).unique().Item1;
        long numSampledPos = posInds.numel();
        long numExpectedNeg = Num - numSampledPos;
        if (NegPosUb >= 0)
        {
            long bound = (long)(NegPosUb * Math.Max(1, numSampledPos));
            numExpectedNeg = Math.Min(numExpectedNeg, bound);
        }
        var negInds = SampleNeg(assignResult, numExpectedNeg).unique().Item1;
        return new SamplingResult(posInds, negInds, bboxes, gtBboxes, assignResult, gtFlags).MoveToOuterDisposeScope();
    }

    /// <summary><c>_sample_pos</c>: up to <paramref name="numExpected"/> of the positives (gt_inds &gt; 0), uniformly.</summary>
    protected internal virtual Tensor SamplePos(AssignResult assignResult, long numExpected) =>
        Choose(nonzero(assignResult.GtInds > 0).view(-1), numExpected);

    /// <summary><c>_sample_neg</c>: up to <paramref name="numExpected"/> of the negatives (gt_inds 0), uniformly.</summary>
    protected internal virtual Tensor SampleNeg(AssignResult assignResult, long numExpected) =>
        Choose(nonzero(assignResult.GtInds == 0).view(-1), numExpected);

    /// <summary><c>random_choice</c>: <paramref name="num"/> of <paramref name="gallery"/> through torch's randperm.</summary>
    protected static Tensor Choose(Tensor gallery, long num)
    {
        if (gallery.numel() <= num) return gallery;
        var perm = randperm(gallery.numel(), device: gallery.device)[..(int)num];
        return gallery[perm];
    }
}

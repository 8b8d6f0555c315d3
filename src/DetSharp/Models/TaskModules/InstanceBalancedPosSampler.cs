using DetSharp.Registry;
using static TorchSharp.torch;

namespace DetSharp.Models.TaskModules;

/// <summary>
/// MMDetection's <c>InstanceBalancedPosSampler</c> (Libra R-CNN): when there are more positives than wanted, each GT
/// instance gives at most <c>round(num_expected / #instances) + 1</c> of its positives (at random), so large objects do
/// not crowd out small ones; a shortfall is filled at random, a surplus cut at random. Negatives as
/// <see cref="RandomSampler"/>.
/// </summary>
[Register(Registries.TaskModulesName, "InstanceBalancedPosSampler")]
public sealed class InstanceBalancedPosSampler(int num, double posFraction, double negPosUb = -1, bool addGtAsProposals = true)
    : RandomSampler(num, posFraction, negPosUb, addGtAsProposals)
{
    protected internal override Tensor SamplePos(AssignResult assignResult, long numExpected)
    {
        var gtInds = assignResult.GtInds;
        var posInds = nonzero(gtInds > 0).view(-1);
        if (posInds.numel() <= numExpected) return posInds;
        var instances = gtInds[posInds].unique().Item1.cpu().data<long>().ToArray();
        // Python's round (half to even), as mmdet's int(round(num_expected / num_gts) + 1).
        long perGt = (long)Math.Round(numExpected / (double)instances.Length, MidpointRounding.ToEven) + 1;
        var sampled = cat(instances.Select(gt => Choose(nonzero(gtInds == gt).view(-1), perGt)).ToArray());
        if (sampled.numel() < numExpected)
        {
            // mmdet draws the extras from set(pos_inds) - set(sampled_inds); those sets hold 0-d tensors, which hash by
            // identity, so nothing is removed and an extra may repeat a positive already taken (sample's unique() then
            // drops it, leaving fewer positives). Kept as mmdet does; mmdet's set order is replaced by ascending index.
            sampled = cat([sampled, Choose(posInds, numExpected - sampled.numel())]);
        }
        else if (sampled.numel() > numExpected)
        {
            sampled = Choose(sampled, numExpected);
        }
        return sampled;
    }
}

using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Losses;

/// <summary>
/// MMDetection's <c>DistributionFocalLoss</c> (Generalized Focal Loss, Li et al. 2020): a continuous target y between
/// the bins ⌊y⌋ and ⌊y⌋ + 1 of a discretised distance distribution is learnt as the two neighbouring bins' cross
/// entropies, weighted by how close y lies to each: CE(x, ⌊y⌋)·(⌊y⌋ + 1 − y) + CE(x, ⌊y⌋ + 1)·(y − ⌊y⌋).
/// </summary>
[Register(Registries.ModelsName, "DistributionFocalLoss")]
public sealed class DistributionFocalLoss(string reduction = "mean", double lossWeight = 1.0) : LossBase(reduction, lossWeight)
{
    /// <param name="pred">[N, n + 1] logits over the bins 0..n.</param>
    /// <param name="target">[N] distances in [0, n) (GFLHead clamps them to n − 0.1).</param>
    public override Tensor Forward(Tensor pred, Tensor target, Tensor? weight = null, double? avgFactor = null, string? reductionOverride = null)
    {
        var left = target.to_type(ScalarType.Int64);
        var right = left + 1;
        var weightLeft = right.to_type(ScalarType.Float32) - target;
        var weightRight = target - left.to_type(ScalarType.Float32);
        var loss = nn.functional.cross_entropy(pred, left, reduction: nn.Reduction.None) * weightLeft
                   + nn.functional.cross_entropy(pred, right, reduction: nn.Reduction.None) * weightRight;
        return LossWeight * LossUtils.WeightReduceLoss(loss, weight, reductionOverride ?? Reduction, avgFactor);
    }
}

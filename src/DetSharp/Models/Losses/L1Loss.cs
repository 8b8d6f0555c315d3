using DetSharp.Registry;
using static TorchSharp.torch;

namespace DetSharp.Models.Losses;

/// <summary>MMDetection's <c>L1Loss</c>: |pred − target|, weighted and reduced.</summary>
[Register(Registries.ModelsName, "L1Loss")]
public sealed class L1Loss(string reduction = "mean", double lossWeight = 1.0) : LossBase(reduction, lossWeight)
{
    public override Tensor Forward(Tensor pred, Tensor target, Tensor? weight = null, double? avgFactor = null, string? reductionOverride = null)
    {
        if (target.numel() == 0) return pred.sum() * 0;
        var loss = (pred - target).abs();
        return LossWeight * LossUtils.WeightReduceLoss(loss, weight, reductionOverride ?? Reduction, avgFactor);
    }
}

using DetSharp.Registry;
using static TorchSharp.torch;

namespace DetSharp.Models.Losses;

/// <summary>MMDetection's <c>MSELoss</c>: (pred − target)², weighted and reduced (Mask Scoring R-CNN's mask IoU loss).</summary>
[Register(Registries.ModelsName, "MSELoss")]
public sealed class MSELoss(string reduction = "mean", double lossWeight = 1.0) : LossBase(reduction, lossWeight)
{
    public override Tensor Forward(Tensor pred, Tensor target, Tensor? weight = null, double? avgFactor = null, string? reductionOverride = null) =>
        LossWeight * LossUtils.WeightReduceLoss((pred - target).square(), weight, reductionOverride ?? Reduction, avgFactor);
}

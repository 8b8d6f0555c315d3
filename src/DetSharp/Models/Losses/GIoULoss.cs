using DetSharp.Ops;
using DetSharp.Registry;
using static TorchSharp.torch;

namespace DetSharp.Models.Losses;

/// <summary>MMDetection's <c>GIoULoss</c>: 1 − GIoU(pred, target) of aligned boxes (eps 1e-6); weights [N, 4] are averaged to [N].</summary>
[Register(Registries.ModelsName, "GIoULoss")]
public sealed class GIoULoss(double eps = 1e-6, string reduction = "mean", double lossWeight = 1.0) : LossBase(reduction, lossWeight)
{
    public double Eps { get; } = eps;

    public override Tensor Forward(Tensor pred, Tensor target, Tensor? weight = null, double? avgFactor = null, string? reductionOverride = null)
    {
        string reduction = reductionOverride ?? Reduction;
        if (BoxLossWeights.ZeroLossIfNoWeight(pred, weight, reduction) is { } zero) return zero;
        if (target.numel() == 0) return pred.sum() * 0;
        var loss = 1 - BboxOverlaps.Compute(pred, target, "giou", isAligned: true, eps: Eps);
        return LossWeight * LossUtils.WeightReduceLoss(loss, BoxLossWeights.PerBox(weight), reduction, avgFactor);
    }
}

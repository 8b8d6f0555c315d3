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
        if (weight is not null && !(weight > 0).any().item<bool>())
        {
            if (pred.dim() == weight.dim() + 1) weight = weight.unsqueeze(1);
            return (pred * weight).sum();
        }
        if (weight is not null && weight.dim() > 1) weight = weight.mean(new long[] { -1 });
        if (target.numel() == 0) return pred.sum() * 0;
        var loss = 1 - BboxOverlaps.Compute(pred, target, "giou", isAligned: true, eps: Eps);
        return LossWeight * LossUtils.WeightReduceLoss(loss, weight, reductionOverride ?? Reduction, avgFactor);
    }
}

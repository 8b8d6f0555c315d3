using DetSharp.Registry;
using static TorchSharp.torch;

namespace DetSharp.Models.Losses;

/// <summary>
/// MMDetection's <c>CIoULoss</c> (Zheng et al. 2021): the DIoU terms plus the aspect-ratio consistency
/// v = 4/π² (atan(w_t/h_t) − atan(w_p/h_p))² weighted by α = [IoU &gt; 0.5]·v / (1 − IoU + v) (no gradient through α);
/// loss = 1 − clamp(IoU − ρ²/c² − α·v, −1, 1). Heights get <c>eps</c> added before the ratios.
/// </summary>
[Register(Registries.ModelsName, "CIoULoss")]
public sealed class CIoULoss(double eps = 1e-6, string reduction = "mean", double lossWeight = 1.0) : LossBase(reduction, lossWeight)
{
    public double Eps { get; } = eps;

    public override Tensor Forward(Tensor pred, Tensor target, Tensor? weight = null, double? avgFactor = null, string? reductionOverride = null)
    {
        string reduction = reductionOverride ?? Reduction;
        if (BoxLossWeights.ZeroLossIfNoWeight(pred, weight, reduction) is { } zero) return zero;
        var (ious, centerPenalty) = DIoULoss.Terms(pred, target, Eps);
        var w1 = pred[.., 2] - pred[.., 0];
        var h1 = pred[.., 3] - pred[.., 1] + Eps;
        var w2 = target[.., 2] - target[.., 0];
        var h2 = target[.., 3] - target[.., 1] + Eps;
        var v = 4 / (Math.PI * Math.PI) * (atan(w2 / h2) - atan(w1 / h1)).pow(2);
        Tensor alpha;
        using (no_grad())
            alpha = (ious > 0.5).to_type(v.dtype) * v / (1 - ious + v);
        var cious = ious - (centerPenalty + alpha * v);
        var loss = 1 - cious.clamp(-1.0, 1.0);
        return LossWeight * LossUtils.WeightReduceLoss(loss, BoxLossWeights.PerBox(weight), reduction, avgFactor);
    }
}

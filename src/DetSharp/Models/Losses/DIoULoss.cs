using DetSharp.Registry;
using static TorchSharp.torch;

namespace DetSharp.Models.Losses;

/// <summary>
/// MMDetection's <c>DIoULoss</c> (Zheng et al. 2020): 1 − (IoU − ρ²/c²) of aligned boxes, ρ the distance of the box
/// centres and c the diagonal of the smallest enclosing box; <c>eps</c> (default 1e-6) is added to the union and to c².
/// </summary>
[Register(Registries.ModelsName, "DIoULoss")]
public sealed class DIoULoss(double eps = 1e-6, string reduction = "mean", double lossWeight = 1.0) : LossBase(reduction, lossWeight)
{
    public double Eps { get; } = eps;

    public override Tensor Forward(Tensor pred, Tensor target, Tensor? weight = null, double? avgFactor = null, string? reductionOverride = null)
    {
        string reduction = reductionOverride ?? Reduction;
        if (BoxLossWeights.ZeroLossIfNoWeight(pred, weight, reduction) is { } zero) return zero;
        var (ious, centerPenalty) = Terms(pred, target, Eps);
        var loss = 1 - (ious - centerPenalty);
        return LossWeight * LossUtils.WeightReduceLoss(loss, BoxLossWeights.PerBox(weight), reduction, avgFactor);
    }

    /// <summary>The IoU (eps added to the union) and the centre-distance penalty ρ²/(c² + eps) of aligned boxes [N, 4], as mmdet's <c>diou_loss</c>/<c>ciou_loss</c> compute them.</summary>
    internal static (Tensor Ious, Tensor CenterPenalty) Terms(Tensor pred, Tensor target, double eps)
    {
        var lt = maximum(pred[.., ..2], target[.., ..2]);
        var rb = minimum(pred[.., 2..], target[.., 2..]);
        var wh = (rb - lt).clamp_min(0);
        var overlap = wh[.., 0] * wh[.., 1];
        var ap = (pred[.., 2] - pred[.., 0]) * (pred[.., 3] - pred[.., 1]);
        var ag = (target[.., 2] - target[.., 0]) * (target[.., 3] - target[.., 1]);
        var ious = overlap / (ap + ag - overlap + eps);
        var enclose = (maximum(pred[.., 2..], target[.., 2..]) - minimum(pred[.., ..2], target[.., ..2])).clamp_min(0);
        var c2 = enclose[.., 0].pow(2) + enclose[.., 1].pow(2) + eps;
        var left = (target[.., 0] + target[.., 2] - (pred[.., 0] + pred[.., 2])).pow(2) / 4;
        var right = (target[.., 1] + target[.., 3] - (pred[.., 1] + pred[.., 3])).pow(2) / 4;
        return (ious, (left + right) / c2);
    }
}

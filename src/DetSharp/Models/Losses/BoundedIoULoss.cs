using DetSharp.Registry;
using static TorchSharp.torch;

namespace DetSharp.Models.Losses;

/// <summary>
/// MMDetection's <c>BoundedIoULoss</c> (Tychsen-Smith &amp; Petersson 2018): per coordinate an upper bound of 1 − IoU
/// when only that coordinate is off — centre x/y: 1 − max((w_t − 2|dx|) / (w_t + 2|dx| + eps), 0); width/height:
/// 1 − min(w_t / (w_p + eps), w_p / (w_t + eps)) — each through a smooth L1 with <c>beta</c> (default 0.2). Returns [N, 4],
/// so [N, 4] weights apply per coordinate; the target side carries no gradient.
/// </summary>
[Register(Registries.ModelsName, "BoundedIoULoss")]
public sealed class BoundedIoULoss(double beta = 0.2, double eps = 1e-3, string reduction = "mean", double lossWeight = 1.0) : LossBase(reduction, lossWeight)
{
    public double Beta { get; } = beta;

    public double Eps { get; } = eps;

    public override Tensor Forward(Tensor pred, Tensor target, Tensor? weight = null, double? avgFactor = null, string? reductionOverride = null)
    {
        string reduction = reductionOverride ?? Reduction;
        if (BoxLossWeights.ZeroLossIfNoWeight(pred, weight, reduction) is { } zero) return zero;
        var pcx = (pred[.., 0] + pred[.., 2]) * 0.5;
        var pcy = (pred[.., 1] + pred[.., 3]) * 0.5;
        var pw = pred[.., 2] - pred[.., 0];
        var ph = pred[.., 3] - pred[.., 1];
        var t = target.detach();
        var tcx = (t[.., 0] + t[.., 2]) * 0.5;
        var tcy = (t[.., 1] + t[.., 3]) * 0.5;
        var tw = t[.., 2] - t[.., 0];
        var th = t[.., 3] - t[.., 1];
        var dx = (tcx - pcx).abs();
        var dy = (tcy - pcy).abs();
        var lossDx = 1 - ((tw - 2 * dx) / (tw + 2 * dx + Eps)).clamp_min(0);
        var lossDy = 1 - ((th - 2 * dy) / (th + 2 * dy + Eps)).clamp_min(0);
        var lossDw = 1 - minimum(tw / (pw + Eps), pw / (tw + Eps));
        var lossDh = 1 - minimum(th / (ph + Eps), ph / (th + Eps));
        var comb = stack([lossDx, lossDy, lossDw, lossDh], -1).flatten(1);
        var loss = where(comb < Beta, 0.5 * comb * comb / Beta, comb - 0.5 * Beta);
        return LossWeight * LossUtils.WeightReduceLoss(loss, weight, reduction, avgFactor);
    }
}

using DetSharp.Registry;
using static TorchSharp.torch;

namespace DetSharp.Models.Losses;

/// <summary>
/// MMDetection's <c>BalancedL1Loss</c> (Libra R-CNN): with d = |pred − target| and b = e^(γ/α) − 1,
/// α/b·(b·d + 1)·ln(b·d/β + 1) − α·d for d &lt; β, else γ·d + γ/b − α·β; weighted and reduced as every mmdet loss.
/// </summary>
[Register(Registries.ModelsName, "BalancedL1Loss")]
public sealed class BalancedL1Loss(double alpha = 0.5, double gamma = 1.5, double beta = 1.0, string reduction = "mean", double lossWeight = 1.0)
    : LossBase(reduction, lossWeight)
{
    public double Alpha { get; } = alpha;

    public double Gamma { get; } = gamma;

    public double Beta { get; } = beta > 0 ? beta : throw new DetSharpException("BalancedL1Loss: beta must be > 0.");

    public override Tensor Forward(Tensor pred, Tensor target, Tensor? weight = null, double? avgFactor = null, string? reductionOverride = null)
    {
        if (target.numel() == 0) return pred.sum() * 0;
        var diff = (pred - target).abs();
        double b = Math.Exp(Gamma / Alpha) - 1;
        var loss = where(diff < Beta,
            Alpha / b * (b * diff + 1) * log(b * diff / Beta + 1) - Alpha * diff,
            Gamma * diff + Gamma / b - Alpha * Beta);
        return LossWeight * LossUtils.WeightReduceLoss(loss, weight, reductionOverride ?? Reduction, avgFactor);
    }
}

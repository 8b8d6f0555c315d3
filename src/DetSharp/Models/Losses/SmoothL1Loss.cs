using DetSharp.Registry;
using static TorchSharp.torch;

namespace DetSharp.Models.Losses;

/// <summary>MMDetection's <c>SmoothL1Loss</c>: 0.5·d²/β for d &lt; β, else d − 0.5·β (d = |pred − target|).</summary>
[Register(Registries.ModelsName, "SmoothL1Loss")]
public sealed class SmoothL1Loss(double beta = 1.0, string reduction = "mean", double lossWeight = 1.0) : LossBase(reduction, lossWeight)
{
    public double Beta { get; } = beta > 0 ? beta : throw new DetSharpException("SmoothL1Loss: beta must be > 0.");

    public override Tensor Forward(Tensor pred, Tensor target, Tensor? weight = null, double? avgFactor = null, string? reductionOverride = null)
    {
        if (target.numel() == 0) return pred.sum() * 0;
        var diff = (pred - target).abs();
        var loss = where(diff < Beta, 0.5 * diff * diff / Beta, diff - 0.5 * Beta);
        return LossWeight * LossUtils.WeightReduceLoss(loss, weight, reductionOverride ?? Reduction, avgFactor);
    }
}

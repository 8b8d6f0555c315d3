using static TorchSharp.torch;

namespace DetSharp.Models.Losses;

/// <summary>MMDetection's loss reduction helpers (<c>mmdet/models/losses/utils.py</c>).</summary>
public static class LossUtils
{
    /// <summary>
    /// <c>weight_reduce_loss</c>: multiply by the element weights, then 'none' / 'mean' / 'sum'; with an average
    /// factor, 'mean' is <c>sum / (avg_factor + eps)</c> (eps = float32 machine epsilon) and 'sum' is an error.
    /// </summary>
    public static Tensor WeightReduceLoss(Tensor loss, Tensor? weight, string reduction, double? avgFactor)
    {
        if (weight is not null) loss = loss * weight;
        if (avgFactor is null)
        {
            return reduction switch
            {
                "none" => loss,
                "mean" => loss.mean(),
                "sum" => loss.sum(),
                _ => throw new ArgumentException($"reduction must be 'none', 'mean' or 'sum', got '{reduction}'."),
            };
        }
        return reduction switch
        {
            "mean" => loss.sum() / (avgFactor.Value + Eps),
            "none" => loss,
            _ => throw new ArgumentException("avg_factor can not be used with reduction=\"sum\""),
        };
    }

    /// <summary>float32 machine epsilon, as <c>torch.finfo(torch.float32).eps</c>.</summary>
    public const double Eps = 1.1920928955078125e-07;

    /// <summary>Checks a reduction string.</summary>
    public static string CheckReduction(string reduction) => reduction is "none" or "mean" or "sum"
        ? reduction
        : throw new DetSharpException($"loss reduction must be 'none', 'mean' or 'sum', got '{reduction}'.");
}

/// <summary>
/// A weighted loss with MMDetection's call signature <c>loss(pred, target, weight, avg_factor, reduction_override)</c>;
/// the result is multiplied by <c>loss_weight</c>.
/// </summary>
public abstract class LossBase(string reduction, double lossWeight)
{
    public string Reduction { get; } = LossUtils.CheckReduction(reduction);

    public double LossWeight { get; } = lossWeight;

    public abstract Tensor Forward(Tensor pred, Tensor target, Tensor? weight = null, double? avgFactor = null, string? reductionOverride = null);
}

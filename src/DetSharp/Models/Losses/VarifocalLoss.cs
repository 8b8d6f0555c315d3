using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Losses;

/// <summary>
/// MMDetection's <c>VarifocalLoss</c> (VarifocalNet, Zhang et al. 2021): sigmoid BCE against an IoU-aware target
/// q ∈ [0, 1] of the same shape as the logits (the IoU of the positive's box on its class, 0 elsewhere). Negatives
/// (q ≤ 0) are down-weighted focally, α·|σ(x) − q|^γ; positives are kept whole, or weighted by q itself with
/// <c>iou_weighted</c> (so that high-quality positives dominate). Weights and reduction are element-wise as
/// <c>weight_reduce_loss</c>.
/// </summary>
[Register(Registries.ModelsName, "VarifocalLoss")]
public sealed class VarifocalLoss : LossBase
{
    public VarifocalLoss(bool useSigmoid = true, double alpha = 0.75, double gamma = 2.0, bool iouWeighted = true, string reduction = "mean",
        double lossWeight = 1.0)
        : base(reduction, lossWeight)
    {
        if (!useSigmoid) throw new DetSharpException("VarifocalLoss: only use_sigmoid=True is supported (as in MMDetection).");
        if (alpha < 0) throw new DetSharpException($"VarifocalLoss: alpha must be >= 0, got {alpha}.");
        Alpha = alpha;
        Gamma = gamma;
        IouWeighted = iouWeighted;
    }

    public double Alpha { get; }

    public double Gamma { get; }

    public bool IouWeighted { get; }

    /// <param name="pred">[N, C] logits.</param>
    /// <param name="target">[N, C] IoU-aware targets (0 for negatives).</param>
    public override Tensor Forward(Tensor pred, Tensor target, Tensor? weight = null, double? avgFactor = null, string? reductionOverride = null)
    {
        if (!pred.shape.SequenceEqual(target.shape))
            throw new ArgumentException($"VarifocalLoss: pred [{string.Join(", ", pred.shape)}] and target [{string.Join(", ", target.shape)}] must have the same shape.");
        using var scope = NewDisposeScope();
        target = target.type_as(pred);
        var positive = (target > 0.0).to_type(pred.dtype);
        var negative = (target <= 0.0).to_type(pred.dtype);
        var negativeWeight = Alpha * (pred.sigmoid() - target).abs().pow(Gamma) * negative;
        var focalWeight = (IouWeighted ? target * positive : positive) + negativeWeight;
        var loss = nn.functional.binary_cross_entropy_with_logits(pred, target, reduction: nn.Reduction.None) * focalWeight;
        return (LossWeight * LossUtils.WeightReduceLoss(loss, weight, reductionOverride ?? Reduction, avgFactor)).MoveToOuterDisposeScope();
    }
}

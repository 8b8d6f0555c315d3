using DetSharp.Ops;
using DetSharp.Registry;
using static TorchSharp.torch;

namespace DetSharp.Models.Losses;

/// <summary>
/// MMDetection's <c>IoULoss</c> on aligned boxes: IoU clamped at <c>eps</c>, then <c>mode</c> 'log' (−log IoU, the
/// default), 'linear' (1 − IoU; also what the deprecated <c>linear=True</c> means) or 'square' (1 − IoU², YOLOX).
/// Weights [N, 4] are averaged to [N]; all-zero weights give a zero loss that keeps the graph.
/// </summary>
[Register(Registries.ModelsName, "IoULoss")]
public sealed class IoULoss : LossBase
{
    public IoULoss(bool linear = false, double eps = 1e-6, string reduction = "mean", double lossWeight = 1.0, string mode = "log")
        : base(reduction, lossWeight)
    {
        if (mode is not ("linear" or "square" or "log"))
            throw new DetSharpException($"IoULoss: mode must be 'linear', 'square' or 'log', got '{mode}'.");
        Mode = linear ? "linear" : mode;
        Eps = eps;
    }

    public string Mode { get; }

    public double Eps { get; }

    public override Tensor Forward(Tensor pred, Tensor target, Tensor? weight = null, double? avgFactor = null, string? reductionOverride = null)
    {
        string reduction = reductionOverride ?? Reduction;
        if (BoxLossWeights.ZeroLossIfNoWeight(pred, weight, reduction, unlessNone: true) is { } zero) return zero;
        weight = BoxLossWeights.PerBox(weight);
        var ious = BboxOverlaps.Compute(pred, target, "iou", isAligned: true, eps: Eps).clamp_min(Eps);
        var loss = Mode switch
        {
            "linear" => 1 - ious,
            "square" => 1 - ious.pow(2),
            _ => -ious.log(),
        };
        return LossWeight * LossUtils.WeightReduceLoss(loss, weight, reduction, avgFactor);
    }
}

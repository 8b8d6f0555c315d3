using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Losses;

/// <summary>
/// MMDetection's <c>QualityFocalLoss</c> (Generalized Focal Loss, Li et al. 2020): a sigmoid classification loss whose
/// target is a (label, quality score) pair. Every class of every sample is pushed towards 0 with BCE · σ(x)^β; the
/// positive's own class is pushed towards its score (the IoU of its predicted box in GFL) with BCE · |score − σ(x)|^β.
/// The per-sample loss is summed over classes; weights are per sample. <c>activated=True</c> takes probabilities.
/// </summary>
[Register(Registries.ModelsName, "QualityFocalLoss")]
public sealed class QualityFocalLoss : LossBase
{
    public QualityFocalLoss(bool useSigmoid = true, double beta = 2.0, string reduction = "mean", double lossWeight = 1.0, bool activated = false)
        : base(reduction, lossWeight)
    {
        if (!useSigmoid) throw new DetSharpException("QualityFocalLoss: only use_sigmoid=True is supported (as in MMDetection).");
        Beta = beta;
        Activated = activated;
    }

    public double Beta { get; }

    public bool Activated { get; }

    /// <summary>A single target tensor is refused: MMDetection's QFL takes the pair (labels, scores), see the other overload.</summary>
    public override Tensor Forward(Tensor pred, Tensor target, Tensor? weight = null, double? avgFactor = null, string? reductionOverride = null) =>
        throw new ArgumentException("QualityFocalLoss takes its target as (labels, scores); call Forward(pred, labels, scores, ...).");

    /// <param name="pred">[N, C] logits (probabilities with <c>activated</c>).</param>
    /// <param name="labels">[N] class indices, C (or any value outside [0, C)) for background.</param>
    /// <param name="scores">[N] quality targets of the positives (ignored for the others).</param>
    public Tensor Forward(Tensor pred, Tensor labels, Tensor scores, Tensor? weight = null, double? avgFactor = null, string? reductionOverride = null)
    {
        var prob = Activated ? pred : pred.sigmoid();
        var loss = Bce(pred, zeros_like(pred)) * prob.pow(Beta);
        long numClasses = pred.shape[1];
        var pos = nonzero((labels >= 0) & (labels < numClasses)).squeeze(1);
        var posLabels = labels[pos].to_type(ScalarType.Int64);
        var posPred = pred[pos, posLabels];
        var scale = scores[pos] - prob[pos, posLabels];
        loss.index_put_(Bce(posPred, scores[pos]) * scale.abs().pow(Beta), pos, posLabels);
        return LossWeight * LossUtils.WeightReduceLoss(loss.sum(1), weight, reductionOverride ?? Reduction, avgFactor);
    }

    private Tensor Bce(Tensor pred, Tensor target) => Activated
        ? nn.functional.binary_cross_entropy(pred, target, reduction: nn.Reduction.None)
        : nn.functional.binary_cross_entropy_with_logits(pred, target, reduction: nn.Reduction.None);
}

using DetSharp.Registry;
using static TorchSharp.torch;

namespace DetSharp.Models.Losses;

/// <summary>
/// MMDetection's <c>DiceLoss</c> (SOLO, QueryInst, MaskFormer): per sample, over the flattened prediction p (the sigmoid of
/// the logits when <c>activate</c>) and target t, <c>1 − 2Σpt / (Σp² + eps + Σt² + eps)</c> (V-Net), or with
/// <c>naive_dice</c> <c>1 − (2Σpt + eps) / (Σp + Σt + eps)</c>; then weighted per sample and reduced as every loss
/// (<see cref="LossUtils.WeightReduceLoss"/>), times <c>loss_weight</c>.
/// </summary>
[Register(Registries.ModelsName, "DiceLoss")]
public sealed class DiceLoss : LossBase
{
    public DiceLoss(bool useSigmoid = true, bool activate = true, string reduction = "mean", bool naiveDice = false, double lossWeight = 1.0, double eps = 1e-3)
        : base(reduction, lossWeight)
    {
        // MMDetection has no softmax dice: it raises NotImplementedError on the first forward; refuse it when built instead.
        if (activate && !useSigmoid)
            throw new DetSharpException("DiceLoss: use_sigmoid=False with activate=True is not implemented (in MMDetection either); set use_sigmoid=True, or activate=False for probabilities.");
        Activate = activate;
        NaiveDice = naiveDice;
        Eps = eps;
    }

    public bool Activate { get; }

    public bool NaiveDice { get; }

    public double Eps { get; }

    /// <param name="pred">[N, *] logits (probabilities when <see cref="Activate"/> is false).</param>
    /// <param name="target">[N, *] binary targets, the shape of <paramref name="pred"/>.</param>
    /// <param name="weight">[N] per-sample weights.</param>
    public override Tensor Forward(Tensor pred, Tensor target, Tensor? weight = null, double? avgFactor = null, string? reductionOverride = null)
    {
        using var scope = NewDisposeScope();
        if (weight is not null && (weight.dim() != 1 || weight.shape[0] != pred.shape[0]))
            throw new DetSharpException($"DiceLoss: weight must hold one value per sample ([{pred.shape[0]}]), got [{string.Join(", ", weight.shape)}].");
        var p = (Activate ? pred.sigmoid() : pred).flatten(1);
        var t = target.flatten(1).to_type(ScalarType.Float32);
        var a = (p * t).sum(1);
        Tensor d = NaiveDice
            ? (2 * a + Eps) / (p.sum(1) + t.sum(1) + Eps)
            : 2 * a / ((p * p).sum(1) + Eps + ((t * t).sum(1) + Eps));
        return (LossWeight * LossUtils.WeightReduceLoss(1 - d, weight, reductionOverride ?? Reduction, avgFactor)).MoveToOuterDisposeScope();
    }
}

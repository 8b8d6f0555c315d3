using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Losses;

/// <summary>
/// MMDetection's sigmoid <c>FocalLoss</c> (<c>py_sigmoid_focal_loss</c>): labels are one-hot over C+1 classes with
/// the background column dropped; loss = BCE-with-logits · (α·t + (1−α)(1−t)) · pt^γ with
/// pt = (1−p)·t + p·(1−t). Per-sample weights [N] broadcast over classes.
/// </summary>
[Register(Registries.ModelsName, "FocalLoss")]
public sealed class FocalLoss : LossBase
{
    public FocalLoss(bool useSigmoid = true, double gamma = 2.0, double alpha = 0.25, string reduction = "mean", double lossWeight = 1.0, bool activated = false)
        : base(reduction, lossWeight)
    {
        if (!useSigmoid) throw new DetSharpException("FocalLoss: only use_sigmoid=True is supported (as in MMDetection).");
        Gamma = gamma;
        Alpha = alpha;
        Activated = activated;
    }

    public double Gamma { get; }

    public double Alpha { get; }

    public bool Activated { get; }

    public override Tensor Forward(Tensor pred, Tensor target, Tensor? weight = null, double? avgFactor = null, string? reductionOverride = null)
    {
        long numClasses = pred.shape[1];
        var t = target.dim() == 1
            ? nn.functional.one_hot(target.to_type(ScalarType.Int64), numClasses + 1)[.., ..(int)numClasses].to_type(pred.dtype)
            : target.to_type(pred.dtype);
        var p = Activated ? pred : pred.sigmoid();
        var pt = (1 - p) * t + p * (1 - t);
        var focalWeight = (Alpha * t + (1 - Alpha) * (1 - t)) * pt.pow(Gamma);
        var bce = Activated
            ? nn.functional.binary_cross_entropy(pred, t, reduction: nn.Reduction.None)
            : nn.functional.binary_cross_entropy_with_logits(pred, t, reduction: nn.Reduction.None);
        var loss = bce * focalWeight;
        if (weight is not null && !weight.shape.SequenceEqual(loss.shape))
        {
            if (weight.shape[0] == loss.shape[0]) weight = weight.view(-1, 1);
            else weight = weight.view(loss.shape[0], -1);
        }
        return LossWeight * LossUtils.WeightReduceLoss(loss, weight, reductionOverride ?? Reduction, avgFactor);
    }
}

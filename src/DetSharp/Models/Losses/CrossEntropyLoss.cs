using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Losses;

/// <summary>
/// MMDetection's <c>CrossEntropyLoss</c> in its three forms: softmax (<c>cross_entropy</c>, labels as class indices,
/// <c>ignore_index</c> default -100), sigmoid (<c>binary_cross_entropy</c> with logits; index labels are expanded to
/// one-hot over the prediction's channels, labels outside [0, C) giving all-zero rows, and weights masked by valid
/// labels; <c>class_weight</c> is the <c>pos_weight</c>), and mask (<c>use_mask</c>: per RoI the channel of its label,
/// mean binary cross-entropy over all pixels). <c>avg_non_ignore</c> averages over non-ignored labels.
/// </summary>
[Register(Registries.ModelsName, "CrossEntropyLoss")]
public sealed class CrossEntropyLoss : LossBase
{
    private readonly float[]? _classWeight;

    public CrossEntropyLoss(bool useSigmoid = false, bool useMask = false, string reduction = "mean", double[]? classWeight = null,
        int? ignoreIndex = null, double lossWeight = 1.0, bool avgNonIgnore = false)
        : base(reduction, lossWeight)
    {
        if (useSigmoid && useMask) throw new DetSharpException("CrossEntropyLoss: use_sigmoid and use_mask cannot both be True.");
        UseSigmoid = useSigmoid;
        UseMask = useMask;
        _classWeight = classWeight?.Select(v => (float)v).ToArray();
        IgnoreIndex = ignoreIndex;
        AvgNonIgnore = avgNonIgnore;
    }

    public bool UseSigmoid { get; }

    public bool UseMask { get; }

    public int? IgnoreIndex { get; }

    public bool AvgNonIgnore { get; }

    private Tensor? ClassWeight(Tensor like) => _classWeight is null ? null : tensor(_classWeight, device: like.device);

    public override Tensor Forward(Tensor pred, Tensor target, Tensor? weight = null, double? avgFactor = null, string? reductionOverride = null)
    {
        if (UseMask) throw new InvalidOperationException("CrossEntropyLoss(use_mask=True) needs the labels: call ForwardMask.");
        string reduction = reductionOverride ?? Reduction;
        var loss = UseSigmoid
            ? BinaryCrossEntropy(pred, target, weight, reduction, avgFactor)
            : CrossEntropy(pred, target, weight, reduction, avgFactor);
        return LossWeight * loss;
    }

    /// <summary><c>mask_cross_entropy</c>: <paramref name="pred"/> [N, C, H, W], <paramref name="target"/> [N, H, W], <paramref name="label"/> [N].</summary>
    public Tensor ForwardMask(Tensor pred, Tensor target, Tensor label)
    {
        long n = pred.shape[0];
        var inds = arange(n, dtype: ScalarType.Int64, device: pred.device);
        var slice = pred[inds, label.to_type(ScalarType.Int64)];
        var loss = nn.functional.binary_cross_entropy_with_logits(slice, target, weight: ClassWeight(pred), reduction: nn.Reduction.Mean);
        return LossWeight * loss.unsqueeze(0);
    }

    private Tensor CrossEntropy(Tensor pred, Tensor label, Tensor? weight, string reduction, double? avgFactor)
    {
        long ignore = IgnoreIndex ?? -100;
        var loss = nn.functional.cross_entropy(pred, label, weight: ClassWeight(pred), ignore_index: ignore, reduction: nn.Reduction.None);
        if (avgFactor is null && AvgNonIgnore && reduction == "mean")
            avgFactor = label.numel() - (label == ignore).sum().item<long>();
        return LossUtils.WeightReduceLoss(loss, weight?.to_type(ScalarType.Float32), reduction, avgFactor);
    }

    private Tensor BinaryCrossEntropy(Tensor pred, Tensor label, Tensor? weight, string reduction, double? avgFactor)
    {
        long ignore = IgnoreIndex ?? -100;
        Tensor validMask;
        if (pred.dim() != label.dim())
        {
            long channels = pred.shape[^1];
            var binLabels = zeros(label.shape[0], channels, label.dtype, label.device);
            var valid = (label >= 0) & (label != ignore);
            var inds = nonzero(valid & (label < channels)).view(-1);
            if (inds.numel() > 0) binLabels[inds, label[inds]] = ones(inds.shape[0], label.dtype, label.device);
            validMask = valid.view(-1, 1).expand(label.shape[0], channels).to_type(ScalarType.Float32);
            weight = weight is null ? validMask : weight.view(-1, 1).repeat(1, channels) * validMask;
            label = binLabels;
        }
        else
        {
            validMask = ((label >= 0) & (label != ignore)).to_type(ScalarType.Float32);
            weight = weight is null ? validMask : weight * validMask;
        }
        if (avgFactor is null && AvgNonIgnore && reduction == "mean")
            avgFactor = validMask.sum().item<float>();
        var loss = nn.functional.binary_cross_entropy_with_logits(pred, label.to_type(ScalarType.Float32), pos_weights: ClassWeight(pred), reduction: nn.Reduction.None);
        return LossUtils.WeightReduceLoss(loss, weight.to_type(ScalarType.Float32), reduction, avgFactor);
    }
}

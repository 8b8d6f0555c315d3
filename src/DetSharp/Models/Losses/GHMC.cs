using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Losses;

/// <summary>
/// MMDetection's <c>GHMC</c>: sigmoid binary cross-entropy where each (anchor, class) element is weighted by the inverse
/// density of its gradient norm g = |sigmoid(pred) − target| (<see cref="GhmBins"/>, default 10 bins, last edge 1 + 1e-6),
/// so the many easy negatives and the few outliers stop dominating. Index labels [N] become one-hot over the C
/// channels (the background index C gives an all-zero row) with the per-anchor weights broadcast. The result is
/// <c>sum(w · BCE) / tot</c> with tot the number of valid elements; the head's avg_factor is ignored, as upstream.
/// </summary>
[Register(Registries.ModelsName, "GHMC")]
public sealed class GHMC : LossBase, IStatefulLoss, IDisposable
{
    private readonly GhmBins _bins;

    public GHMC(int bins = 10, double momentum = 0, bool useSigmoid = true, double lossWeight = 1.0, string reduction = "mean")
        : base(reduction, lossWeight)
    {
        if (!useSigmoid) throw new DetSharpException("GHMC: only use_sigmoid=True is supported (as in MMDetection).");
        _bins = new GhmBins(bins, momentum, 1e-6, addToLastEdge: true);
    }

    public nn.Module State => _bins;

    public void Dispose() => _bins.Dispose();

    public int Bins => _bins.Bins;

    public double Momentum => _bins.Momentum;

    public override Tensor Forward(Tensor pred, Tensor target, Tensor? weight = null, double? avgFactor = null, string? reductionOverride = null)
    {
        if (weight is null) throw new DetSharpException("GHMC needs the label weights of every sample.");
        if (pred.dim() != target.dim())
        {
            long channels = pred.shape[^1];
            // the background index (== channels) and ignored labels become all-zero rows
            var inRange = (target >= 0) & (target < channels);
            target = nn.functional.one_hot(target.to_type(ScalarType.Int64).masked_fill(~inRange, channels), channels + 1)[.., ..(int)channels];
            weight = weight.view(-1, 1).expand(weight.shape[0], channels);
        }
        target = target.to_type(ScalarType.Float32);
        weight = weight.to_type(ScalarType.Float32);
        var g = (pred.sigmoid().detach() - target).abs();
        var valid = weight > 0;
        double tot = Math.Max(valid.sum().item<long>(), 1.0);
        var weights = _bins.Weights(g, valid, tot);
        var loss = nn.functional.binary_cross_entropy_with_logits(pred, target, reduction: nn.Reduction.None);
        return LossUtils.WeightReduceLoss(loss, weights, reductionOverride ?? Reduction, tot) * LossWeight;
    }
}

using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Losses;

/// <summary>
/// MMDetection's <c>GHMR</c>: the authentic smooth L1 loss sqrt(d² + μ²) − μ (d = pred − target, <c>mu</c> default 0.02)
/// with each coordinate weighted by the inverse density of its gradient norm |d| / sqrt(d² + μ²)
/// (<see cref="GhmBins"/>, default 10 bins, last edge 1e3). The result is <c>sum(w · ASL1) / tot</c> with tot the sum of the
/// label weights; the head's avg_factor is ignored, as upstream.
/// </summary>
[Register(Registries.ModelsName, "GHMR")]
public sealed class GHMR : LossBase, IStatefulLoss, IDisposable
{
    private readonly GhmBins _bins;

    public GHMR(double mu = 0.02, int bins = 10, double momentum = 0, double lossWeight = 1.0, string reduction = "mean")
        : base(reduction, lossWeight)
    {
        Mu = mu;
        _bins = new GhmBins(bins, momentum, 1e3, addToLastEdge: false);
    }

    public nn.Module State => _bins;

    public void Dispose() => _bins.Dispose();

    public double Mu { get; }

    public int Bins => _bins.Bins;

    public double Momentum => _bins.Momentum;

    public override Tensor Forward(Tensor pred, Tensor target, Tensor? weight = null, double? avgFactor = null, string? reductionOverride = null)
    {
        if (weight is null) throw new DetSharpException("GHMR needs the weight of every regression target.");
        var diff = pred - target;
        var loss = (diff * diff + Mu * Mu).sqrt() - Mu;
        var g = (diff / (diff * diff + Mu * Mu).sqrt()).abs().detach();
        double tot = Math.Max(weight.to_type(ScalarType.Float32).sum().item<float>(), 1.0);
        var weights = _bins.Weights(g, weight > 0, tot);
        return LossUtils.WeightReduceLoss(loss, weights, reductionOverride ?? Reduction, tot) * LossWeight;
    }
}

using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Losses;

/// <summary>
/// The gradient-density bins GHMC and GHMR share (Li et al. 2019, "Gradient Harmonized Single-stage Detector"): the
/// gradient norms g of the valid elements are counted in <c>bins</c> equal bins of [0, 1] (the last edge raised so that
/// g = 1, or any g for GHMR, falls in the last bin); each element is weighted by tot / (count of its bin), divided by
/// the number of non-empty bins. With <c>momentum</c> &gt; 0 the counts are the moving average
/// <c>acc_sum[i] = momentum·acc_sum[i] + (1 − momentum)·count</c>, updated only for non-empty bins. Buffers
/// <c>edges</c> [bins + 1] and, with momentum, <c>acc_sum</c> [bins], as MMDetection registers them.
/// </summary>
public sealed class GhmBins : nn.Module
{
    private readonly Tensor _edges;
    private readonly Tensor? _accSum;

    public GhmBins(int bins, double momentum, double lastEdge, bool addToLastEdge)
        : base("GhmBins")
    {
        if (bins < 1) throw new DetSharpException($"GHM loss: bins must be at least 1, got {bins}.");
        Bins = bins;
        Momentum = momentum;
        // float32 arithmetic as MMDetection's torch.arange(bins + 1).float() / bins, so g lands in the same bins
        _edges = arange(bins + 1, ScalarType.Float32) / bins;
        if (addToLastEdge) _edges[bins] += lastEdge;
        else _edges[bins] = lastEdge;
        register_buffer("edges", _edges);
        if (momentum > 0)
        {
            _accSum = zeros(bins, ScalarType.Float32);
            register_buffer("acc_sum", _accSum);
        }
    }

    /// <summary>Buffers are registered explicitly under MMDetection's names.</summary>
    protected override void RegisterComponents()
    {
    }

    public int Bins { get; }

    public double Momentum { get; }

    /// <summary>
    /// The harmonising weights of <paramref name="g"/> (no gradient) over the elements where <paramref name="valid"/>;
    /// <paramref name="tot"/> is the loss's normaliser (valid count for GHMC, weight sum for GHMR). Updates acc_sum.
    /// </summary>
    public Tensor Weights(Tensor g, Tensor valid, double tot)
    {
        using var noGrad = no_grad();
        var edges = get_buffer("edges")!;
        var accSum = Momentum > 0 ? get_buffer("acc_sum") : null;
        var weights = zeros_like(g);
        int nonEmpty = 0;
        for (int i = 0; i < Bins; i++)
        {
            using var scope = NewDisposeScope();
            var inds = (g >= edges[i]) & (g < edges[i + 1]) & valid;
            long numInBin = inds.sum().item<long>();
            if (numInBin == 0) continue;
            Tensor w;
            if (accSum is not null)
            {
                accSum[i] = Momentum * accSum[i] + (1 - Momentum) * numInBin;
                w = tot / accSum[i];
            }
            else
            {
                w = tensor(tot / numInBin, g.dtype, g.device);
            }
            weights = where(inds, w.to_type(weights.dtype), weights).MoveToOuterDisposeScope();
            nonEmpty++;
        }
        return nonEmpty > 0 ? weights / nonEmpty : weights;
    }
}

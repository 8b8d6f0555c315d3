using DetSharp.Registry;
using static TorchSharp.torch;

namespace DetSharp.Models.TaskModules;

/// <summary>
/// MMDetection's <c>IoUBalancedNegSampler</c> (Libra R-CNN): positives as <see cref="RandomSampler"/>; when there are
/// more negatives than needed, <c>floor_fraction</c> of them are drawn at random from those with IoU below
/// <c>floor_thr</c> (IoU 0 when it is 0) and the rest from those above it, spread over <c>num_bins</c> equal IoU
/// intervals up to the largest IoU (<c>num_expected / num_bins</c> from each, the shortfall filled at random from the
/// rest of that set); any remaining shortfall is filled at random from all negatives. <c>floor_thr=-1</c> samples every
/// negative by bins from IoU 0 and none from a floor — on the first call only: mmdet then sets floor_thr to 0, and so
/// does this class. Random picks use torch's generator, as mmdet's
/// <c>random_choice</c>; mmdet walks Python sets whose order DetSharp replaces by ascending index.
/// </summary>
[Register(Registries.TaskModulesName, "IoUBalancedNegSampler")]
public sealed class IoUBalancedNegSampler : RandomSampler
{
    private double _floorThr;
    private readonly double _floorFraction;
    private readonly int _numBins;

    public IoUBalancedNegSampler(int num, double posFraction, double floorThr = -1, double floorFraction = 0, int numBins = 3,
        double negPosUb = -1, bool addGtAsProposals = true)
        : base(num, posFraction, negPosUb, addGtAsProposals)
    {
        if (!(floorThr >= 0 || floorThr == -1)) throw new DetSharpException($"IoUBalancedNegSampler: floor_thr must be >= 0 or -1, got {floorThr}.");
        if (floorFraction is < 0 or > 1) throw new DetSharpException($"IoUBalancedNegSampler: floor_fraction must be in [0, 1], got {floorFraction}.");
        if (numBins < 1) throw new DetSharpException($"IoUBalancedNegSampler: num_bins must be >= 1, got {numBins}.");
        (_floorThr, _floorFraction, _numBins) = (floorThr, floorFraction, numBins);
    }

    protected internal override Tensor SampleNeg(AssignResult assignResult, long numExpected)
    {
        var device = assignResult.GtInds.device;
        var negInds = nonzero(assignResult.GtInds == 0).view(-1);
        if (negInds.numel() <= numExpected) return negInds;
        var overlaps = assignResult.MaxOverlaps.to_type(ScalarType.Float64).cpu().data<double>().ToArray();
        var negatives = negInds.cpu().data<long>().ToArray();
        Func<double, bool> inFloor, inIouSampling;
        if (_floorThr > 0)
        {
            inFloor = iou => iou >= 0 && iou < _floorThr;
            inIouSampling = iou => iou >= _floorThr;
        }
        else if (_floorThr == 0)
        {
            inFloor = iou => iou == 0;
            inIouSampling = iou => iou > 0;
        }
        else
        {
            // floor_thr = -1: no floor, every negative is sampled by bins (starting at IoU 0). mmdet then sets
            // self.floor_thr = 0, so from the second call on the sampler behaves as floor_thr = 0; kept as it does.
            inFloor = _ => false;
            inIouSampling = iou => iou > -1;
            _floorThr = 0;
        }
        var floorNeg = negatives.Where(i => inFloor(overlaps[i])).ToList();
        var iouNeg = negatives.Where(i => inIouSampling(overlaps[i])).ToList();

        long numExpectedIou = (long)(numExpected * (1 - _floorFraction));
        List<long> iouSampled = iouNeg.Count > numExpectedIou
            ? (_numBins >= 2 ? SampleViaInterval(overlaps, iouNeg, numExpectedIou) : Pick(iouNeg, numExpectedIou))
            : iouNeg;
        long numExpectedFloor = numExpected - iouSampled.Count;
        var floorSampled = floorNeg.Count > numExpectedFloor ? Pick(floorNeg, numExpectedFloor) : floorNeg;
        var sampled = floorSampled.Concat(iouSampled).ToList();
        if (sampled.Count < numExpected) sampled.AddRange(Fill(negatives, sampled, numExpected - sampled.Count));
        return tensor(sampled.ToArray(), ScalarType.Int64).to(device);
    }

    /// <summary>mmdet's <c>sample_via_interval</c>: equal shares from <c>num_bins</c> IoU intervals of the candidate set.</summary>
    private List<long> SampleViaInterval(double[] overlaps, List<long> candidates, long numExpected)
    {
        // The largest IoU of all boxes (not only of the candidates), as mmdet.
        double maxIou = overlaps.Length == 0 ? 0 : overlaps.Max();
        double interval = (maxIou - _floorThr) / _numBins;
        long perBin = numExpected / _numBins;
        var sampled = new List<long>();
        for (int b = 0; b < _numBins; b++)
        {
            double start = _floorThr + b * interval, end = _floorThr + (b + 1) * interval;
            var inBin = candidates.Where(i => overlaps[i] >= start && overlaps[i] < end).ToList();
            sampled.AddRange(inBin.Count > perBin ? Pick(inBin, perBin) : inBin);
        }
        if (sampled.Count < numExpected) sampled.AddRange(Fill(candidates, sampled, numExpected - sampled.Count));
        return sampled;
    }

    /// <summary>Up to <paramref name="count"/> of <paramref name="from"/> not yet in <paramref name="taken"/>, at random.</summary>
    private static List<long> Fill(IEnumerable<long> from, List<long> taken, long count)
    {
        var takenSet = taken.ToHashSet();
        var extra = from.Where(i => !takenSet.Contains(i)).ToList();
        return extra.Count > count ? Pick(extra, count) : extra;
    }

    private static List<long> Pick(List<long> gallery, long count)
    {
        using var scope = NewDisposeScope();
        return [.. Choose(tensor(gallery.ToArray(), ScalarType.Int64), count).data<long>().ToArray()];
    }
}

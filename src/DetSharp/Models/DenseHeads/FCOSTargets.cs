using DetSharp.Config;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.DenseHeads;

/// <summary>
/// FCOSHead's <c>get_targets</c> / <c>_get_target_single</c>, shared by the heads that assign points the FCOS way
/// (<see cref="FCOSHead"/>, and <see cref="VFNetHead"/> with <c>use_atss=False</c>): a point is positive for the
/// smallest-area GT that contains it (within <c>center_sample_radius</c>·stride of the GT centre with
/// <c>center_sampling</c>) and whose largest distance lies in the level's <c>regress_ranges</c>.
/// </summary>
public sealed class FCOSTargets
{
    private const double Inf = 1e8;

    private readonly double[][] _regressRanges;
    private readonly int[] _strides;
    private readonly int _numClasses;

    /// <param name="head">The head's name, for error messages.</param>
    /// <param name="regressRanges">The config's <c>regress_ranges</c>, or null for FCOS's default ((-1, 64), ..., (512, INF)).</param>
    public FCOSTargets(string head, object[]? regressRanges, int[] strides, bool centerSampling, double centerSampleRadius, int numClasses)
    {
        _regressRanges = regressRanges is null
            ? [[-1, 64], [64, 128], [128, 256], [256, 512], [512, Inf]]
            : regressRanges.Select(r => ParseRange(head, r)).ToArray();
        if (_regressRanges.Length != strides.Length)
            throw new DetSharpException($"{head}: regress_ranges has {_regressRanges.Length} entries for {strides.Length} strides.");
        _strides = strides;
        _numClasses = numClasses;
        CenterSampling = centerSampling;
        CenterSampleRadius = centerSampleRadius;
    }

    private static double[] ParseRange(string head, object range) => range is IList<object?> { Count: 2 } pair
        ? [Convert.ToDouble(pair[0], System.Globalization.CultureInfo.InvariantCulture), Convert.ToDouble(pair[1], System.Globalization.CultureInfo.InvariantCulture)]
        : throw new DetSharpException($"{head}: each regress_ranges entry must be a (min, max) pair, got {ConfigValue.Describe(range)}.");

    /// <summary>The (min, max) regression range of each level.</summary>
    public IReadOnlyList<double[]> RegressRanges => _regressRanges;

    public bool CenterSampling { get; }

    public double CenterSampleRadius { get; }

    /// <summary>
    /// <c>get_targets</c>: per level, the labels (background = num_classes) and (left, top, right, bottom) distance
    /// targets of every point of every image, images concatenated; divided by the stride with <c>norm_on_bbox</c>.
    /// </summary>
    public (List<Tensor> Labels, List<Tensor> BboxTargets) Get(IReadOnlyList<Tensor> points, IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor> gtLabels,
        bool normOnBbox)
    {
        int numLevels = points.Count;
        var numPoints = points.Select(p => p.shape[0]).ToArray();
        var ranges = cat(Enumerable.Range(0, numLevels)
            .Select(l => tensor(new[] { (float)_regressRanges[l][0], (float)_regressRanges[l][1] }, device: points[l].device).unsqueeze(0).expand(points[l].shape[0], 2)).ToList());
        var allPoints = cat(points.ToList());
        var perImage = new List<(Tensor[] Labels, Tensor[] Targets)>(gtBboxes.Count);
        for (int i = 0; i < gtBboxes.Count; i++)
        {
            var (lab, tgt) = GetTargetSingle(gtBboxes[i], gtLabels[i], allPoints, ranges, numPoints);
            perImage.Add((lab.split(numPoints, 0), tgt.split(numPoints, 0)));
        }
        var labels = new List<Tensor>(numLevels);
        var targets = new List<Tensor>(numLevels);
        for (int l = 0; l < numLevels; l++)
        {
            labels.Add(cat(perImage.Select(p => p.Labels[l]).ToList()));
            var t = cat(perImage.Select(p => p.Targets[l]).ToList());
            targets.Add(normOnBbox ? t / _strides[l] : t);
        }
        return (labels, targets);
    }

    private (Tensor Labels, Tensor BboxTargets) GetTargetSingle(Tensor gtBboxes, Tensor gtLabels, Tensor points, Tensor regressRanges, long[] numPointsPerLevel)
    {
        long numPoints = points.shape[0], numGts = gtLabels.shape[0];
        if (numGts == 0)
            return (full(numPoints, (long)_numClasses, ScalarType.Int64, points.device), zeros(numPoints, 4, device: points.device));
        var areas = ((gtBboxes[.., 2] - gtBboxes[.., 0]) * (gtBboxes[.., 3] - gtBboxes[.., 1])).unsqueeze(0).repeat(numPoints, 1);
        var ranges = regressRanges.unsqueeze(1).expand(numPoints, numGts, 2);
        var gt = gtBboxes.unsqueeze(0).expand(numPoints, numGts, 4);
        var xs = points[.., 0].unsqueeze(1).expand(numPoints, numGts);
        var ys = points[.., 1].unsqueeze(1).expand(numPoints, numGts);
        var left = xs - gt[.., .., 0];
        var right = gt[.., .., 2] - xs;
        var top = ys - gt[.., .., 1];
        var bottom = gt[.., .., 3] - ys;
        var bboxTargets = stack([left, top, right, bottom], -1);
        Tensor insideGt;
        if (CenterSampling)
        {
            var cx = (gt[.., .., 0] + gt[.., .., 2]) / 2;
            var cy = (gt[.., .., 1] + gt[.., .., 3]) / 2;
            var stride = zeros_like(cx);
            long begin = 0;
            for (int l = 0; l < numPointsPerLevel.Length; l++)
            {
                long end = begin + numPointsPerLevel[l];
                stride[(int)begin..(int)end] = _strides[l] * CenterSampleRadius;
                begin = end;
            }
            var x1 = where(cx - stride > gt[.., .., 0], cx - stride, gt[.., .., 0]);
            var y1 = where(cy - stride > gt[.., .., 1], cy - stride, gt[.., .., 1]);
            var x2 = where(cx + stride > gt[.., .., 2], gt[.., .., 2], cx + stride);
            var y2 = where(cy + stride > gt[.., .., 3], gt[.., .., 3], cy + stride);
            var centerBox = stack([xs - x1, ys - y1, x2 - xs, y2 - ys], -1);
            insideGt = centerBox.min(-1).values > 0;
        }
        else insideGt = bboxTargets.min(-1).values > 0;
        var maxDistance = bboxTargets.max(-1).values;
        var insideRange = (maxDistance >= ranges[.., .., 0]) & (maxDistance <= ranges[.., .., 1]);
        areas = areas.masked_fill(insideGt.logical_not(), Inf).masked_fill(insideRange.logical_not(), Inf);
        var (minArea, minAreaInds) = areas.min(1);
        var labels = gtLabels[minAreaInds].masked_fill(minArea == Inf, _numClasses);
        var targets = bboxTargets[arange(numPoints, device: points.device), minAreaInds];
        return (labels, targets);
    }
}

using DetSharp.Config;
using DetSharp.Ops;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.TaskModules;

/// <summary>
/// An assigner that needs to know which pyramid level each candidate comes from (its <c>assign</c> takes
/// <c>num_level_bboxes</c> after the candidates, as MMDetection's ATSSAssigner does).
/// </summary>
public interface IMultiLevelAssigner
{
    /// <param name="bboxes">The candidates of all levels, concatenated level by level [N, 4].</param>
    /// <param name="numLevelBboxes">How many of <paramref name="bboxes"/> each level holds, in order.</param>
    AssignResult Assign(Tensor bboxes, IReadOnlyList<long> numLevelBboxes, Tensor gtBboxes, Tensor? gtBboxesIgnore = null, Tensor? gtLabels = null);
}

/// <summary>
/// MMDetection's <c>ATSSAssigner</c> (Adaptive Training Sample Selection, Zhang et al. 2020): for each GT, the
/// <c>topk</c> candidates per level whose centres lie closest to the GT centre; their IoUs' mean + (unbiased) std is
/// that GT's IoU threshold; candidates at or above it whose centre lies inside the GT (by more than 0.01 on every side)
/// are positive, a candidate positive for several GTs taking the one it overlaps most. Everything else is negative,
/// except candidates covered by an ignored box (IoF &gt; <c>ignore_iof_thr</c>), which are ignored (-1) and never
/// selected. DDOD's cost-based variant (<c>alpha</c>) is not implemented.
/// </summary>
[Register(Registries.TaskModulesName, "ATSSAssigner")]
public sealed class ATSSAssigner : IMultiLevelAssigner
{
    private const float Inf = 100000000f;

    public ATSSAssigner(int topk, double? alpha = null, ConfigDict? iouCalculator = null, double ignoreIofThr = -1)
    {
        if (alpha is not null)
            throw new DetSharpException("ATSSAssigner: alpha (DDOD's cost-based assignment from predicted scores and boxes) is not supported; remove alpha.");
        if (iouCalculator is not null && (iouCalculator.Get<string?>("type", null) != "BboxOverlaps2D" || iouCalculator.Keys.Any(k => k != "type")))
            throw new DetSharpException($"ATSSAssigner: iou_calculator must be dict(type='BboxOverlaps2D') (the only IoU calculator DetSharp has, and MMDetection's default), got {ConfigValue.Describe(iouCalculator)}.");
        if (topk <= 0) throw new DetSharpException($"ATSSAssigner: topk must be positive, got {topk}.");
        Topk = topk;
        IgnoreIofThr = ignoreIofThr;
    }

    public int Topk { get; }

    public double IgnoreIofThr { get; }

    public AssignResult Assign(Tensor bboxes, IReadOnlyList<long> numLevelBboxes, Tensor gtBboxes, Tensor? gtBboxesIgnore = null, Tensor? gtLabels = null)
    {
        using var scope = NewDisposeScope();
        bboxes = bboxes[.., ..4];
        long numGt = gtBboxes.shape[0], numBboxes = bboxes.shape[0];
        if (numLevelBboxes.Sum() != numBboxes)
            throw new ArgumentException($"ATSSAssigner: the levels hold {numLevelBboxes.Sum()} candidates, but {numBboxes} were given.");
        var device = bboxes.device;
        var overlaps = BboxOverlaps.Compute(bboxes, gtBboxes);
        var assigned = zeros(numBboxes, ScalarType.Int64, device);
        if (numGt == 0 || numBboxes == 0)
        {
            var emptyLabels = gtLabels is null ? null : full(numBboxes, -1L, ScalarType.Int64, device);
            return Keep(new AssignResult((int)numGt, assigned, zeros(numBboxes, ScalarType.Float32, device), emptyLabels));
        }

        var gtPoints = stack([(gtBboxes[.., 0] + gtBboxes[.., 2]) / 2.0, (gtBboxes[.., 1] + gtBboxes[.., 3]) / 2.0], 1);
        var cx = (bboxes[.., 0] + bboxes[.., 2]) / 2.0;
        var cy = (bboxes[.., 1] + bboxes[.., 3]) / 2.0;
        var distances = (stack([cx, cy], 1).unsqueeze(1) - gtPoints.unsqueeze(0)).pow(2).sum(-1).sqrt();
        if (IgnoreIofThr > 0 && gtBboxesIgnore is not null && gtBboxesIgnore.numel() > 0)
        {
            var ignored = BboxOverlaps.Compute(bboxes, gtBboxesIgnore, "iof").max(1).values > IgnoreIofThr;
            distances[ignored] = Inf;
            assigned[ignored] = -1L;
        }

        // The topk closest centres per level and GT; their indices into all candidates, [Σ k_l, num_gt].
        var candidates = new List<Tensor>(numLevelBboxes.Count);
        long start = 0;
        foreach (long count in numLevelBboxes)
        {
            long k = Math.Min(Topk, count);
            candidates.Add(distances[(int)start..(int)(start + count)].topk((int)k, dim: 0, largest: false).indexes + start);
            start += count;
        }
        var candidateIdxs = cat(candidates, 0);
        var gtIndex = arange(numGt, device: device);
        var candidateOverlaps = overlaps[candidateIdxs, gtIndex];
        var threshold = candidateOverlaps.mean([0]) + candidateOverlaps.std(0);
        var isPos = candidateOverlaps >= threshold.unsqueeze(0);

        // Only candidates whose centre lies inside the GT.
        var candCx = cx[candidateIdxs];
        var candCy = cy[candidateIdxs];
        var sides = stack([candCx - gtBboxes[.., 0], candCy - gtBboxes[.., 1], gtBboxes[.., 2] - candCx, gtBboxes[.., 3] - candCy], 1);
        isPos = isPos & (sides.min(1).values > 0.01);

        // A candidate positive for several GTs takes the one it overlaps most (the first of equals).
        var flatIdxs = (candidateIdxs + gtIndex.unsqueeze(0) * numBboxes).reshape(-1);
        var posFlat = flatIdxs[isPos.reshape(-1)];
        var overlapsInf = full(numGt * numBboxes, -Inf, overlaps.dtype, device);
        overlapsInf[posFlat] = overlaps.t().contiguous().reshape(-1)[posFlat];
        var (maxOverlaps, argmaxOverlaps) = overlapsInf.view(numGt, -1).t().max(1);
        var matched = maxOverlaps != -Inf;
        assigned[matched] = argmaxOverlaps[matched] + 1;

        Tensor? labels = null;
        if (gtLabels is not null)
        {
            labels = full(numBboxes, -1L, ScalarType.Int64, device);
            var posInds = nonzero(assigned > 0).squeeze(1);
            if (posInds.numel() > 0)
                labels[posInds] = gtLabels.to_type(ScalarType.Int64)[assigned[posInds] - 1];
        }
        return Keep(new AssignResult((int)numGt, assigned, maxOverlaps, labels));
    }

    private static AssignResult Keep(AssignResult result)
    {
        result.GtInds.MoveToOuterDisposeScope();
        result.MaxOverlaps.MoveToOuterDisposeScope();
        result.Labels?.MoveToOuterDisposeScope();
        return result;
    }
}

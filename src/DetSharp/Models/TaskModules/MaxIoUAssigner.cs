using DetSharp.Ops;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.TaskModules;

/// <summary>Assigns GT boxes to candidate boxes.</summary>
public interface IBBoxAssigner
{
    AssignResult Assign(Tensor bboxes, Tensor gtBboxes, Tensor? gtBboxesIgnore = null, Tensor? gtLabels = null);
}

/// <summary>
/// MMDetection's <c>MaxIoUAssigner</c>: IoU of every candidate with every GT; candidates with max IoU in
/// [0, neg_iou_thr) (or in [lo, hi) for a pair) become negatives (0), those ≥ pos_iou_thr take their best GT; with
/// <c>match_low_quality</c> each GT whose best IoU ≥ min_pos_iou also takes its best candidate (all tied candidates
/// with <c>gt_max_assign_all</c>), later GTs overriding earlier ones. Candidates overlapping ignored GT boxes
/// (IoF &gt; <c>ignore_iof_thr</c>, w.r.t. the candidates or the ignored boxes) are set to -1 (ignored).
/// </summary>
[Register(Registries.TaskModulesName, "MaxIoUAssigner")]
public sealed class MaxIoUAssigner : IBBoxAssigner
{
    private readonly double _negLo, _negHi;
    private readonly bool _negIsRange;

    public MaxIoUAssigner(
        double posIouThr,
        object negIouThr,
        double minPosIou = 0,
        bool gtMaxAssignAll = true,
        double ignoreIofThr = -1,
        bool ignoreWrtCandidates = true,
        bool matchLowQuality = true,
        int gpuAssignThr = -1,
        object? iouCalculator = null)
    {
        PosIouThr = posIouThr;
        switch (negIouThr)
        {
            case double d: _negHi = d; break;
            case long l: _negHi = l; break;
            case IList<object?> pair when pair.Count == 2:
                _negIsRange = true;
                _negLo = Convert.ToDouble(pair[0], System.Globalization.CultureInfo.InvariantCulture);
                _negHi = Convert.ToDouble(pair[1], System.Globalization.CultureInfo.InvariantCulture);
                break;
            default: throw new DetSharpException($"MaxIoUAssigner: neg_iou_thr must be a float or a (min, max) pair, got {negIouThr}.");
        }
        MinPosIou = minPosIou;
        GtMaxAssignAll = gtMaxAssignAll;
        IgnoreIofThr = ignoreIofThr;
        IgnoreWrtCandidates = ignoreWrtCandidates;
        MatchLowQuality = matchLowQuality;
        // On a GPU MMDetection moves the assignment of images with more than gpu_assign_thr GT boxes to the CPU to save
        // memory; the result is the same, so it is kept for the configs that set it and changes nothing here.
        GpuAssignThr = gpuAssignThr;
        if (iouCalculator is not null)
        {
            var calc = iouCalculator as Config.ConfigDict;
            string? type = calc?.Get<string?>("type", null);
            if (type != "BboxOverlaps2D" || calc!.Keys.Any(k => k != "type"))
                throw new DetSharpException($"MaxIoUAssigner: iou_calculator must be dict(type='BboxOverlaps2D') (the only IoU calculator DetSharp has, and MMDetection's default), got {Config.ConfigValue.Describe(iouCalculator)}.");
        }
    }

    public double PosIouThr { get; }

    public int GpuAssignThr { get; }

    public double MinPosIou { get; }

    public bool GtMaxAssignAll { get; }

    public double IgnoreIofThr { get; }

    public bool IgnoreWrtCandidates { get; }

    public bool MatchLowQuality { get; }

    public AssignResult Assign(Tensor bboxes, Tensor gtBboxes, Tensor? gtBboxesIgnore = null, Tensor? gtLabels = null)
    {
        using var scope = NewDisposeScope();
        var boxes = bboxes.shape[1] == 5 ? bboxes[.., 0..4] : bboxes;
        var overlaps = BboxOverlaps.Compute(gtBboxes, boxes);
        if (IgnoreIofThr > 0 && gtBboxesIgnore is not null && gtBboxesIgnore.numel() > 0 && boxes.numel() > 0)
        {
            Tensor ignoreMax;
            if (IgnoreWrtCandidates)
                ignoreMax = BboxOverlaps.Compute(boxes, gtBboxesIgnore, "iof").max(1).values;
            else
                ignoreMax = BboxOverlaps.Compute(gtBboxesIgnore, boxes, "iof").max(0).values;
            overlaps.index_put_(tensor(-1f), TensorIndex.Colon, TensorIndex.Tensor(ignoreMax > IgnoreIofThr));
        }
        var result = AssignWrtOverlaps(overlaps, gtLabels);
        result.GtInds.MoveToOuterDisposeScope();
        result.MaxOverlaps.MoveToOuterDisposeScope();
        result.Labels?.MoveToOuterDisposeScope();
        return result;
    }

    /// <summary><c>assign_wrt_overlaps</c> on an IoU matrix [num_gts, num_bboxes].</summary>
    public AssignResult AssignWrtOverlaps(Tensor overlaps, Tensor? gtLabels)
    {
        long numGts = overlaps.shape[0], numBboxes = overlaps.shape[1];
        var device = overlaps.device;
        var assigned = full(numBboxes, -1L, ScalarType.Int64, device);
        if (numGts == 0 || numBboxes == 0)
        {
            var maxZero = zeros(numBboxes, ScalarType.Float32, device);
            if (numGts == 0) assigned.fill_(0);
            var labelsEmpty = gtLabels is null ? null : full(numBboxes, -1L, ScalarType.Int64, device);
            return new AssignResult((int)numGts, assigned, maxZero, labelsEmpty);
        }
        var (maxOverlaps, argmaxOverlaps) = overlaps.max(0);
        var (gtMaxOverlaps, gtArgmaxOverlaps) = overlaps.max(1);
        if (_negIsRange)
            assigned[(maxOverlaps >= _negLo) & (maxOverlaps < _negHi)] = 0L;
        else
            assigned[(maxOverlaps >= 0) & (maxOverlaps < _negHi)] = 0L;
        var pos = maxOverlaps >= PosIouThr;
        assigned[pos] = argmaxOverlaps[pos] + 1;
        if (MatchLowQuality)
        {
            var gtMax = gtMaxOverlaps.data<float>().ToArray();
            var gtArg = gtArgmaxOverlaps.data<long>().ToArray();
            for (int i = 0; i < numGts; i++)
            {
                if (gtMax[i] < MinPosIou) continue;
                if (GtMaxAssignAll)
                    assigned[overlaps[i] == gtMax[i]] = (long)(i + 1);
                else
                    assigned[gtArg[i]] = (long)(i + 1);
            }
        }
        Tensor? labels = null;
        if (gtLabels is not null)
        {
            labels = full(numBboxes, -1L, ScalarType.Int64, device);
            var posInds = nonzero(assigned > 0).squeeze(1);
            if (posInds.numel() > 0)
                labels[posInds] = gtLabels.to_type(ScalarType.Int64)[assigned[posInds] - 1];
        }
        return new AssignResult((int)numGts, assigned, maxOverlaps, labels);
    }
}

using DetSharp.Ops;
using DetSharp.Registry;
using static TorchSharp.torch;

namespace DetSharp.Models.TaskModules;

/// <summary>
/// MMDetection's <c>SimOTAAssigner</c> (YOLOX's simplified optimal-transport assignment) for one image. Candidates are
/// the priors (x, y, stride_w, stride_h) inside some GT box or inside some GT's centre square of ±<c>center_radius</c>
/// strides (the center prior); their cost against each GT is <c>cls_weight</c>·BCE(sqrt(score), one-hot label) summed
/// over classes + <c>iou_weight</c>·(−log(IoU + eps)) of the predicted box, + 1e5 unless the prior is both in the box
/// and in its centre square. Each GT takes its k cheapest candidates, k = max(int(sum of its <c>candidate_topk</c> best
/// IoUs)), 1) (dynamic k); a prior taken by several GTs keeps the cheapest. Result: <c>gt_inds</c> (1-based, 0 = background),
/// <c>labels</c> (−1 for background) and <c>max_overlaps</c> (the matched IoU, −1e5 elsewhere).
/// <para>Not sealed: the YOLOX learning test breaks the assignment on purpose through a subclass to calibrate its bar.</para>
/// </summary>
[Register(Registries.TaskModulesName, "SimOTAAssigner")]
public class SimOTAAssigner(double centerRadius = 2.5, int candidateTopk = 10, double iouWeight = 3.0, double clsWeight = 1.0)
{
    private const float Inf = 100000.0f;

    public double CenterRadius => centerRadius;

    public int CandidateTopk => candidateTopk;

    public double IouWeight => iouWeight;

    public double ClsWeight => clsWeight;

    /// <summary>
    /// <c>assign</c>: <paramref name="predScores"/> [N, C] (probabilities), <paramref name="priors"/> [N, 4],
    /// <paramref name="decodedBboxes"/> [N, 4], <paramref name="gtBboxes"/> [G, 4], <paramref name="gtLabels"/> [G].
    /// </summary>
    public virtual AssignResult Assign(Tensor predScores, Tensor priors, Tensor decodedBboxes, Tensor gtBboxes, Tensor gtLabels, double eps = 1e-7)
    {
        using var scope = NewDisposeScope();
        int numGt = (int)gtBboxes.shape[0];
        long numBboxes = decodedBboxes.shape[0];
        var device = decodedBboxes.device;
        var assignedGtInds = zeros(numBboxes, ScalarType.Int64, device);
        var (validMask, inBoxesAndCenters) = InGtAndInCenterInfo(priors, gtBboxes);
        var validIdx = nonzero(validMask).view(-1);
        long numValid = validIdx.shape[0];
        if (numGt == 0 || numBboxes == 0 || numValid == 0)
        {
            return new AssignResult(numGt, assignedGtInds, zeros(numBboxes, ScalarType.Float32, device),
                full(numBboxes, -1L, ScalarType.Int64, device)).MoveToOuterDisposeScope();
        }
        var validBoxes = decodedBboxes[validIdx];
        var validScores = predScores[validIdx];
        var ious = BboxOverlaps.Compute(validBoxes, gtBboxes);
        var iouCost = -(ious + eps).log();
        long numClasses = predScores.shape[^1];
        var onehot = nn.functional.one_hot(gtLabels.to_type(ScalarType.Int64), numClasses).to_type(ScalarType.Float32).unsqueeze(0)
            .expand(numValid, numGt, numClasses);
        var scores = validScores.to_type(ScalarType.Float32).sqrt().unsqueeze(1).expand(numValid, numGt, numClasses);
        var clsCost = nn.functional.binary_cross_entropy(scores, onehot, reduction: nn.Reduction.None).sum(-1);
        var cost = clsCost * clsWeight + iouCost * iouWeight + inBoxesAndCenters.logical_not().to_type(ScalarType.Float32) * Inf;

        var (matchedIous, matchedGtInds, fg) = DynamicKMatching(cost, ious, numGt);
        var posIdx = validIdx[fg];
        assignedGtInds[posIdx] = matchedGtInds + 1;
        var labels = full(numBboxes, -1L, ScalarType.Int64, device);
        labels[posIdx] = gtLabels[matchedGtInds].to_type(ScalarType.Int64);
        var maxOverlaps = full(numBboxes, -Inf, ScalarType.Float32, device);
        maxOverlaps[posIdx] = matchedIous;
        return new AssignResult(numGt, assignedGtInds, maxOverlaps, labels).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// <c>get_in_gt_and_in_center_info</c>: [N] priors inside some GT box or some centre square, and for those the
    /// [n, G] pairs inside both.
    /// </summary>
    public (Tensor ValidMask, Tensor InBoxesAndCenters) InGtAndInCenterInfo(Tensor priors, Tensor gtBboxes)
    {
        var x = priors[.., 0].unsqueeze(1);
        var y = priors[.., 1].unsqueeze(1);
        var sx = priors[.., 2].unsqueeze(1);
        var sy = priors[.., 3].unsqueeze(1);
        var inGts = stack([x - gtBboxes[.., 0], y - gtBboxes[.., 1], gtBboxes[.., 2] - x, gtBboxes[.., 3] - y], 1).min(1).values > 0;
        var cx = (gtBboxes[.., 0] + gtBboxes[.., 2]) / 2.0;
        var cy = (gtBboxes[.., 1] + gtBboxes[.., 3]) / 2.0;
        var inCts = stack([x - (cx - centerRadius * sx), y - (cy - centerRadius * sy), cx + centerRadius * sx - x, cy + centerRadius * sy - y], 1)
            .min(1).values > 0;
        var valid = inGts.any(1) | inCts.any(1);
        return (valid, inGts[valid] & inCts[valid]);
    }

    /// <summary>
    /// <c>dynamic_k_matching</c> on the [n, G] costs and IoUs of the valid priors: the matched IoU and GT (0-based) of
    /// every matched prior, and which valid priors matched.
    /// </summary>
    private (Tensor MatchedIous, Tensor MatchedGtInds, Tensor Fg) DynamicKMatching(Tensor cost, Tensor ious, int numGt)
    {
        int k = (int)Math.Min(candidateTopk, ious.shape[0]);
        // .int() truncates toward zero, as MMDetection's. (sum(dim: 0): a bare sum(0) would be TorchSharp's sum(ScalarType).)
        var dynamicKs = ious.topk(k, dim: 0).values.sum(dim: 0).to_type(ScalarType.Int32).clamp_min(1).cpu().data<int>().ToArray();
        var columns = new Tensor[numGt];
        for (int g = 0; g < numGt; g++)
        {
            var pos = cost[.., g].topk(dynamicKs[g], largest: false).indexes;
            columns[g] = zeros(cost.shape[0], ScalarType.Float32, cost.device).index_fill_(0, pos, 1.0);
        }
        var matching = stack(columns, 1);
        var multiple = matching.sum(1) > 1;
        if (multiple.any().item<bool>())
        {
            // A prior taken by several GTs keeps only its cheapest one.
            var rows = nonzero(multiple).view(-1);
            var argmin = cost[rows].min(1).indexes;
            matching.index_fill_(0, rows, 0.0);
            matching.view(-1).index_fill_(0, rows * numGt + argmin, 1.0);
        }
        var fg = matching.sum(1) > 0;
        var matchedGtInds = matching[fg].argmax(1);
        var matchedIous = (matching * ious).sum(1)[fg];
        return (matchedIous, matchedGtInds, fg);
    }
}

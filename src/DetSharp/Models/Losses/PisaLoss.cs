using DetSharp.Models.TaskModules;
using DetSharp.Ops;
using static TorchSharp.torch;

namespace DetSharp.Models.Losses;

/// <summary>The classification and regression targets PISA reweights (<c>bbox_targets</c> in MMDetection's <c>isr_p</c>).</summary>
public sealed record PisaTargets(Tensor Labels, Tensor LabelWeights, Tensor BboxTargets, Tensor BboxWeights);

/// <summary>
/// MMDetection's PISA losses (<c>mmdet/models/losses/pisa_loss.py</c>; Cao et al. 2020, "Prime Sample Attention in
/// Object Detection"), used by <c>PISARetinaHead</c> and <c>PISARoIHead</c>.
/// </summary>
public static class PisaLoss
{
    /// <summary>
    /// <c>isr_p</c>, Importance-based Sample Reweighting of the positives: each positive's decoded box is ranked by IoU
    /// with its GT, first among the positives of the same GT, then (shifted by that local rank) among all positives of
    /// the class — the IoU hierarchical local rank; the label weight becomes
    /// (bias + (1 − bias)·w·(max_n − rank)/max_n)^k (max_n the largest positive count of a class), rescaled so that the
    /// positives' total classification loss is unchanged. <paramref name="posAssignedGtInds"/> holds each image's
    /// positives' GT indices, in the order of the positives in the flattened targets; <paramref name="rois"/> are
    /// anchors [N, 4] or RoIs [N, 5]. Returns the targets with new label weights (no gradient).
    /// </summary>
    public static PisaTargets IsrP(Tensor clsScore, Tensor bboxPred, PisaTargets targets, Tensor rois, IReadOnlyList<Tensor> posAssignedGtInds,
        LossBase lossCls, IBBoxCoder bboxCoder, double k = 2, double bias = 0, long numClass = 80)
    {
        using var noGrad = no_grad();
        var labels = targets.Labels;
        var posInds = nonzero((labels >= 0) & (labels < numClass)).reshape(-1);
        long numPos = posInds.numel();
        if (numPos == 0) return targets;
        var posLabels = labels[posInds];
        // GT ids across images: each image's indices shifted by the previous image's largest index + 1 — not a running
        // total, so ids of images two apart can coincide (and then share a rank group); MMDetection does exactly this
        var gts = new List<Tensor>(posAssignedGtInds.Count);
        long lastMaxGt = 0;
        foreach (var gtI in posAssignedGtInds)
        {
            gts.Add(gtI + lastMaxGt);
            if (gtI.numel() != 0) lastMaxGt = gtI.max().item<long>() + 1;
        }
        var gt = cat(gts);
        if (gt.numel() != numPos) throw new InvalidOperationException($"isr_p: {gt.numel()} assigned GTs for {numPos} positives.");

        var posRois = rois.shape[^1] == 5 ? rois[posInds][.., 1..] : rois[posInds];
        Tensor posDeltaPred = bboxPred.shape[^1] > 4
            ? bboxPred.view(bboxPred.shape[0], -1, 4)[posInds, posLabels].view(-1, 4)
            : bboxPred[posInds].view(-1, 4);
        var posDeltaTarget = targets.BboxTargets[posInds].view(-1, 4);
        var ious = BboxOverlaps.Compute(bboxCoder.Decode(posRois, posDeltaPred), bboxCoder.Decode(posRois, posDeltaTarget), isAligned: true);

        var posImpWeights = targets.LabelWeights[posInds].clone();
        var maxLNum = posLabels.bincount(null, 0).max().to_type(ScalarType.Float32);
        foreach (long label in posLabels.unique().output.cpu().data<long>().ToArray())
        {
            var lInds = nonzero(posLabels == label).view(-1);
            var lGts = gt[lInds];
            foreach (long t in lGts.unique().output.cpu().data<long>().ToArray())
            {
                var tInds = lInds[lGts == t];
                ious[tInds] = ious[tInds] + (maxLNum - Rank(ious[tInds]));
            }
            posImpWeights[lInds] = posImpWeights[lInds] * ((maxLNum - Rank(ious[lInds])) / maxLNum);
        }
        posImpWeights = (bias + posImpWeights * (1 - bias)).pow(k);

        // normalise so that the positives' classification loss keeps its original sum
        var posLossCls = lossCls.Forward(clsScore[posInds], posLabels, reductionOverride: "none");
        var origWeights = targets.LabelWeights[posInds];
        var (ori, upd) = posLossCls.dim() > 1
            ? (posLossCls * origWeights.unsqueeze(1), posLossCls * posImpWeights.unsqueeze(1))
            : (posLossCls * origWeights, posLossCls * posImpWeights);
        posImpWeights = posImpWeights * (ori.sum() / upd.sum());
        var labelWeights = targets.LabelWeights.clone();
        labelWeights[posInds] = posImpWeights;
        return targets with { LabelWeights = labelWeights };
    }

    /// <summary>The 0-based rank of each value in descending order (<c>sort(descending)</c> then <c>sort</c> of the indices).</summary>
    private static Tensor Rank(Tensor values) => values.sort(descending: true).Indices.sort().Indices.to_type(ScalarType.Float32);

    /// <summary>
    /// <c>carl_loss</c>, the Classification-Aware Regression Loss: each positive's regression loss (reduction 'none',
    /// ÷ <paramref name="avgFactor"/>, default the number of targets) weighted by (bias + (1 − bias)·s)^k, s its
    /// predicted score of its class (sigmoid or softmax; gradient flows into the classifier), the weights rescaled to
    /// sum to the number of positives. Zero (keeping the graph) without positives.
    /// </summary>
    public static Tensor CarlLoss(Tensor clsScore, Tensor labels, Tensor bboxPred, Tensor bboxTargets, LossBase lossBbox,
        double k = 1, double bias = 0.2, double? avgFactor = null, bool sigmoid = false, long numClass = 80)
    {
        var posInds = nonzero((labels >= 0) & (labels < numClass)).reshape(-1);
        if (posInds.numel() == 0) return clsScore.sum() * 0;
        var posLabels = labels[posInds];
        var probs = sigmoid ? clsScore.sigmoid() : clsScore.softmax(-1);
        var posClsScore = probs[posInds, posLabels];
        var weights = (bias + (1 - bias) * posClsScore).pow(k);
        weights = weights * (posClsScore.shape[0] / weights.sum());
        var posBboxPreds = bboxPred.shape[^1] > 4 ? bboxPred.view(bboxPred.shape[0], -1, 4)[posInds, posLabels] : bboxPred[posInds];
        var oriLossReg = lossBbox.Forward(posBboxPreds, bboxTargets[posInds], reductionOverride: "none") / (avgFactor ?? bboxTargets.shape[0]);
        return (oriLossReg * weights.unsqueeze(1)).sum();
    }
}

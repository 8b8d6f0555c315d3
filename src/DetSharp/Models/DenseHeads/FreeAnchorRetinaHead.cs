using DetSharp.Config;
using DetSharp.Engine;
using DetSharp.Ops;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.DenseHeads;

/// <summary>
/// MMDetection's <c>FreeAnchorRetinaHead</c> (Zhang et al. 2019, "FreeAnchor: Learning to Match Anchors for Visual
/// Object Detection"): RetinaNet's layers, with the fixed IoU assignment replaced by a likelihood over anchor bags.
/// Each GT's bag is its <c>pre_anchor_topk</c> (50) anchors of highest IoU; the positive loss is
/// α·(−log MeanMax(P_cls · P_loc)) per GT, P_loc = exp(−loss_bbox(deltas, encoded GT)) and MeanMax weighting each
/// anchor by 1 / (1 − p); the negative loss is the focal term (1 − α)·p^γ·BCE(p, 0) with
/// p = P_cls · (1 − P{anchor is some GT's positive}), that probability being the IoU of the anchor's decoded box with
/// the GT, saturated linearly between <c>bbox_thr</c> (0.6) and the GT's best IoU (no gradient). Losses
/// <c>positive_bag_loss</c> (÷ number of GTs) and <c>negative_bag_loss</c> (÷ GTs · pre_anchor_topk); the head's
/// <c>train_cfg</c> assigner and <c>loss_cls</c> are not used.
/// </summary>
[Register(Registries.ModelsName, "FreeAnchorRetinaHead")]
public sealed class FreeAnchorRetinaHead : RetinaHead
{
    /// <summary>The clamp that keeps probabilities off 0 and 1, MMDetection's <c>EPS</c>.</summary>
    private const double Eps = 1e-12;

    public FreeAnchorRetinaHead([InheritedArguments] AnchorHeadArguments args, int stackedConvs = 4, ConfigDict? convCfg = null,
        ConfigDict? normCfg = null, int preAnchorTopk = 50, double bboxThr = 0.6, double gamma = 2.0, double alpha = 0.5)
        : base(nameof(FreeAnchorRetinaHead), args, stackedConvs, convCfg, normCfg)
    {
        if (!UseSigmoidCls) throw new DetSharpException("FreeAnchorRetinaHead: loss_cls must use a sigmoid (use_sigmoid=True).");
        PreAnchorTopk = preAnchorTopk;
        BboxThr = bboxThr;
        Gamma = gamma;
        Alpha = alpha;
    }

    public int PreAnchorTopk { get; }

    public double BboxThr { get; }

    public double Gamma { get; }

    public double Alpha { get; }

    public override LossDict Loss(DenseHeadOutputs outs, IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor>? gtLabels,
        IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor?>? gtBboxesIgnore = null)
    {
        if (gtLabels is null) throw new InvalidOperationException("FreeAnchorRetinaHead.Loss needs the GT labels.");
        var sizes = FeatmapSizes(outs.ClsScores);
        var anchors = cat(AnchorGenerator.GridPriors(sizes, outs.ClsScores[0].device), 0);
        long batch = imgMetas.Count;
        var clsScores = cat(outs.ClsScores.Select(c => c.permute(0, 2, 3, 1).reshape(batch, -1, ClsOutChannels)).ToArray(), 1);
        var bboxPreds = cat(outs.BboxPreds.Select(b => b.permute(0, 2, 3, 1).reshape(batch, -1, 4)).ToArray(), 1);
        var clsProb = clsScores.sigmoid();
        var boxProb = new Tensor[batch];
        var positiveLosses = new List<Tensor>();
        long numPos = 0;
        for (int i = 0; i < batch; i++)
        {
            var gt = gtBboxes[i];
            var labels = gtLabels[i];
            using (no_grad())
                boxProb[i] = ImageBoxProb(anchors, bboxPreds[i], gt, labels);
            if (gt.shape[0] == 0) continue;
            // the bag of each GT: its pre_anchor_topk anchors of highest IoU (order within the bag does not matter)
            var matched = BboxOverlaps.Compute(gt, anchors).topk(PreAnchorTopk, dim: 1, sorted: false).indexes;
            var matchedClsProb = clsProb[i][matched].gather(2, labels.view(-1, 1, 1).expand(-1, PreAnchorTopk, 1)).squeeze(2);
            var matchedAnchors = anchors[matched];
            var targets = BboxCoder.Encode(matchedAnchors.reshape(-1, 4), gt.unsqueeze(1).expand_as(matchedAnchors).reshape(-1, 4))
                .view(matchedAnchors.shape);
            var lossBbox = LossBbox.Forward(bboxPreds[i][matched], targets, reductionOverride: "none").sum(-1);
            numPos += gt.shape[0];
            positiveLosses.Add(PositiveBagLoss(matchedClsProb, lossBbox.neg().exp()));
        }
        var positiveLoss = numPos == 0
            ? bboxPreds.sum() * 0 // keeps the regression branch in the graph when the batch has no GT
            : cat(positiveLosses).sum() / Math.Max(1, numPos);
        var negativeLoss = NegativeBagLoss(clsProb, stack(boxProb)).sum() / Math.Max(1, numPos * PreAnchorTopk);
        var losses = new LossDict();
        losses.Add("positive_bag_loss", positiveLoss);
        losses.Add("negative_bag_loss", negativeLoss);
        return losses;
    }

    /// <summary>
    /// P{anchor j is a positive of class c} [A, C]: the largest, over the GTs of class c, of the decoded box's IoU with
    /// the GT mapped linearly from [bbox_thr, the GT's best IoU] to [0, 1] (MMDetection's sparse max, densely).
    /// </summary>
    private Tensor ImageBoxProb(Tensor anchors, Tensor bboxPreds, Tensor gt, Tensor labels)
    {
        var prob = zeros(anchors.shape[0], ClsOutChannels, bboxPreds.dtype, bboxPreds.device);
        if (gt.shape[0] == 0) return prob;
        var objectBoxIou = BboxOverlaps.Compute(gt, BboxCoder.Decode(anchors, bboxPreds));
        var t2 = objectBoxIou.max(1, keepdim: true).values.clamp_min(BboxThr + Eps);
        var objectBoxProb = ((objectBoxIou - BboxThr) / (t2 - BboxThr)).clamp(0, 1);
        foreach (long c in labels.unique().output.cpu().data<long>().ToArray())
            prob[.., c] = objectBoxProb[labels == c].max(0).values;
        return prob;
    }

    /// <summary>α·(−log MeanMax(P)) per GT [num_gt], MeanMax weighting each anchor of the bag by 1 / (1 − P).</summary>
    internal Tensor PositiveBagLoss(Tensor matchedClsProb, Tensor matchedBoxProb)
    {
        var matchedProb = matchedClsProb * matchedBoxProb;
        var weight = 1 / (1 - matchedProb).clamp_min(Eps);
        weight = weight / weight.sum(1).unsqueeze(-1);
        var bagProb = (weight * matchedProb).sum(1);
        return Alpha * nn.functional.binary_cross_entropy(bagProb, ones_like(bagProb), reduction: nn.Reduction.None);
    }

    /// <summary>(1 − α)·p^γ·BCE(p, 0) with p = P_cls·(1 − P_box) clamped to [eps, 1 − eps], per (image, anchor, class).</summary>
    internal Tensor NegativeBagLoss(Tensor clsProb, Tensor boxProb)
    {
        var prob = (clsProb * (1 - boxProb)).clamp(Eps, 1 - Eps);
        return (1 - Alpha) * prob.pow(Gamma) * nn.functional.binary_cross_entropy(prob, zeros_like(prob), reduction: nn.Reduction.None);
    }
}

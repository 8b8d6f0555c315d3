using DetSharp.Config;
using DetSharp.Engine;
using DetSharp.Models.Common;
using DetSharp.Models.Detectors;
using DetSharp.Registry;
using DetSharp.Structures;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.RoIHeads;

/// <summary>
/// MMDetection's <c>HybridTaskCascadeRoIHead</c>: a <see cref="CascadeRoIHead"/> (bbox stages, scores and boxes at test
/// as there) with HTC's three changes. <c>interleaved</c>: each stage's mask branch trains on the RoIs its bbox branch
/// just regressed (assigned and sampled again with the stage's <c>train_cfg</c>), and those RoIs feed the next stage.
/// <c>mask_info_flow</c>: stage i's mask head (<see cref="HTCMaskHead"/>) adds the features of the mask heads before it,
/// run in turn on the same RoI features; at test the masks are the mean of every stage's sigmoid masks so computed.
/// Semantic branch (<c>semantic_head</c>, a <see cref="FusedSemanticHead"/>, with <c>semantic_roi_extractor</c>): its
/// features, pooled per RoI, are added to the bbox and/or mask RoI features (<c>semantic_fusion</c>), and it trains on
/// <c>gt_semantic_seg</c> (<c>loss_semantic_seg</c>). Refinement uses the targets' labels as they are (MMDetection's
/// HTC, unlike its Cascade R-CNN, does not replace background labels by the predicted class).
/// </summary>
[Register(Registries.ModelsName, "HybridTaskCascadeRoIHead")]
public sealed class HybridTaskCascadeRoIHead : CascadeRoIHead
{
    private readonly BaseRoIExtractor? _semanticRoiExtractor;
    private readonly FusedSemanticHead? _semanticHead;

    public HybridTaskCascadeRoIHead(int numStages, double[] stageLossWeights, [InheritedArguments] RoIHeadArguments args,
        ConfigDict? semanticRoiExtractor = null, ConfigDict? semanticHead = null, string[]? semanticFusion = null, bool interleaved = true,
        bool maskInfoFlow = true)
        : base(nameof(HybridTaskCascadeRoIHead), numStages, stageLossWeights, args)
    {
        if (args.BboxHead is null) throw new DetSharpException("HybridTaskCascadeRoIHead: bbox_head is required.");
        // As MMDetection: the semantic RoI extractor is built only with a semantic head.
        if (semanticHead is not null)
        {
            _semanticRoiExtractor = Builders.Model<BaseRoIExtractor>(semanticRoiExtractor
                ?? throw new DetSharpException("HybridTaskCascadeRoIHead: semantic_head needs a semantic_roi_extractor (or set both to None)."));
            register_module("semantic_roi_extractor", _semanticRoiExtractor);
            _semanticHead = Builders.Model<FusedSemanticHead>(semanticHead);
            register_module("semantic_head", _semanticHead);
        }
        SemanticFusion = semanticFusion ?? ["bbox", "mask"];
        foreach (var f in SemanticFusion)
            if (f is not ("bbox" or "mask")) throw new DetSharpException($"HybridTaskCascadeRoIHead: semantic_fusion entry '{f}' must be 'bbox' or 'mask'.");
        Interleaved = interleaved;
        MaskInfoFlow = maskInfoFlow;
        if (maskInfoFlow && WithMask)
        {
            for (int i = 0; i < NumStages; i++)
            {
                if (Stages[i].MaskHead is not HTCMaskHead htc)
                    throw new DetSharpException($"HybridTaskCascadeRoIHead: mask_info_flow needs HTCMaskHead mask heads; mask_head[{i}] is {Stages[i].MaskHead!.GetType().Name}.");
                if (i > 0 && !htc.WithConvRes)
                    throw new DetSharpException($"HybridTaskCascadeRoIHead: mask_info_flow feeds stage {i - 1}'s mask features to mask_head[{i}], which needs with_conv_res=True.");
            }
        }
    }

    public bool WithSemantic => _semanticHead is not null;

    public FusedSemanticHead? SemanticHead => _semanticHead;

    public IReadOnlyList<string> SemanticFusion { get; }

    public bool Interleaved { get; }

    public bool MaskInfoFlow { get; }

    /// <summary>The semantic head's features (<c>semantic_head(x)[1]</c>), or null without a semantic branch.</summary>
    public Tensor? SemanticFeatures(Tensor[] x) => _semanticHead?.Forward(x).SemanticFeat;

    /// <summary><c>_bbox_forward(stage, x, rois, semantic_feat)</c>: logits and deltas, the semantic features fused in.</summary>
    public (Tensor ClsScore, Tensor BboxPred) BboxForward(int stage, Tensor[] x, Tensor rois, Tensor? semanticFeat)
    {
        var (cls, reg, _) = Stages[stage].BboxForward(x, rois, Fusion(semanticFeat, "bbox"));
        return (cls, reg);
    }

    public override LossDict ForwardTrain(Tensor[] x, IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor> proposals,
        IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor> gtLabels, IReadOnlyList<Tensor?>? gtBboxesIgnore, IReadOnlyList<IInstanceMasks>? gtMasks,
        Tensor[]? auxiliary = null) =>
        ForwardTrain(x, imgMetas, proposals, gtBboxes, gtLabels, gtBboxesIgnore, gtMasks, gtSemanticSeg: null, auxiliary);

    /// <summary>
    /// <c>forward_train</c>: the semantic loss (when the head has a semantic branch; <paramref name="gtSemanticSeg"/>
    /// [N, 1, H, W] class labels at the semantic head's resolution), then per stage the bbox losses, the mask loss
    /// (interleaved: on the regressed, re-sampled RoIs) and the refinement of the proposals.
    /// </summary>
    public LossDict ForwardTrain(Tensor[] x, IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor> proposals,
        IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor> gtLabels, IReadOnlyList<Tensor?>? gtBboxesIgnore, IReadOnlyList<IInstanceMasks>? gtMasks,
        Tensor? gtSemanticSeg, Tensor[]? auxiliary = null)
    {
        var losses = new LossDict();
        Tensor? semanticFeat = null;
        if (_semanticHead is not null)
        {
            if (gtSemanticSeg is null)
            {
                throw new DetSharpException("HybridTaskCascadeRoIHead: the semantic branch trains on gt_semantic_seg, which this batch lacks. Load it "
                    + "(LoadAnnotations(with_seg=True), SegRescale, Collect 'gt_semantic_seg') or train without it: --cfg-options "
                    + "model.roi_head.semantic_roi_extractor=None model.roi_head.semantic_head=None.");
            }
            var (semanticPred, feat) = _semanticHead.Forward(x);
            losses.Add("loss_semantic_seg", _semanticHead.Loss(semanticPred, gtSemanticSeg));
            semanticFeat = feat;
        }
        var bboxFuse = Fusion(semanticFeat, "bbox");
        var maskFuse = Fusion(semanticFeat, "mask");
        int numImgs = imgMetas.Count;
        IReadOnlyList<Tensor> proposalList = proposals;
        for (int i = 0; i < NumStages; i++)
        {
            var stage = Stages[i];
            var (sampling, negLabelWeights) = stage.Sample(x, numImgs, proposalList, gtBboxes, gtLabels, gtBboxesIgnore);
            var output = stage.BboxTrain(x, sampling, negLabelWeights, i == 0 ? auxiliary : null, AuxLossWeight, bboxFuse);
            AddStageLosses(losses, i, output.Losses);
            if (WithMask)
            {
                if (Interleaved)
                {
                    using var noGrad = no_grad();
                    proposalList = RefineBboxes(i, output, imgMetas, backgroundAsPredicted: false);
                    (sampling, _) = stage.Sample(x, numImgs, proposalList, gtBboxes, gtLabels, gtBboxesIgnore);
                }
                int s = i;
                var maskLoss = stage.MaskTrain(x, sampling, gtMasks, rois => MaskLogits(s, x, rois, maskFuse)).Loss;
                AddStageLosses(losses, i, new LossDict { { "loss_mask", maskLoss } });
            }
            // As MMDetection: interleaved training refines only for the mask branch (so not at all without one).
            if (i < NumStages - 1 && !Interleaved)
                proposalList = RefineBboxes(i, output, imgMetas, backgroundAsPredicted: false);
        }
        return losses;
    }

    /// <summary><c>simple_test</c>: the cascade's, with the semantic features fused in and the masks of the information flow.</summary>
    public override List<DetectionResult> SimpleTest(Tensor[] x, IReadOnlyList<Tensor> proposals, IReadOnlyList<ImgMeta> imgMetas, bool rescale)
    {
        using var scope = NewDisposeScope();
        var semanticFeat = SemanticFeatures(x);
        var maskFuse = Fusion(semanticFeat, "mask");
        return SimpleTest(x, proposals, imgMetas, rescale, Fusion(semanticFeat, "bbox"), rois => MergedMaskProbs(x, rois, maskFuse));
    }

    /// <summary>
    /// <c>aug_test</c>: the cascade's, with each augmentation's semantic features fused in and the masks of the information
    /// flow. As MMDetection's HTC aug_test (unlike its simple_test and Cascade R-CNN), a RoI is refined between stages by
    /// the argmax over all logits, background included.
    /// </summary>
    public override DetectionResult AugTest(IReadOnlyList<Tensor[]> feats, Tensor proposals, IReadOnlyList<ImgMeta> augMetas, bool rescale)
    {
        using var scope = NewDisposeScope();
        var semantic = feats.Select(SemanticFeatures).ToList();
        return AugTest(feats, proposals, augMetas, a => Fusion(semantic[a], "bbox"),
            (a, rois) => MergedMaskProbs(feats[a], rois, Fusion(semantic[a], "mask")), refineOverAllClasses: true);
    }

    /// <summary>
    /// Adds the semantic features pooled over each RoI (average-pooled to the RoI features' size when it differs) to
    /// the <paramref name="branch"/>'s RoI features, or null when that branch does not fuse them.
    /// </summary>
    private Func<Tensor, Tensor, Tensor>? Fusion(Tensor? semanticFeat, string branch)
    {
        if (semanticFeat is null || !SemanticFusion.Contains(branch)) return null;
        return (rois, feats) =>
        {
            var pooled = _semanticRoiExtractor!.Forward([semanticFeat], rois);
            long h = feats.shape[^2], w = feats.shape[^1];
            if (pooled.shape[^2] != h || pooled.shape[^1] != w) pooled = nn.functional.adaptive_avg_pool2d(pooled, [h, w]);
            return feats + pooled;
        };
    }

    /// <summary>
    /// <c>_mask_forward_train</c>'s logits of stage <paramref name="stage"/>: with the information flow, the mask heads
    /// before it run on the same RoI features and hand their features on.
    /// </summary>
    private Tensor MaskLogits(int stage, Tensor[] x, Tensor rois, Func<Tensor, Tensor, Tensor>? fuse)
    {
        var feats = Stages[stage].MaskFeats(x, rois);
        if (fuse is not null) feats = fuse(rois, feats);
        if (!MaskInfoFlow) return Stages[stage].MaskHead!.Forward(feats);
        Tensor? last = null;
        for (int i = 0; i < stage; i++) last = ((HTCMaskHead)Stages[i].MaskHead!).Forward(feats, last, returnLogits: false).Feat;
        return ((HTCMaskHead)Stages[stage].MaskHead!).Forward(feats, last).Logits!;
    }

    /// <summary>
    /// The test masks of a batch of RoIs: the last stage's mask RoI features (semantic features fused in) through every
    /// stage's mask head in turn, each handing its features to the next; the mean of their sigmoid masks.
    /// </summary>
    private Tensor MergedMaskProbs(Tensor[] x, Tensor rois, Func<Tensor, Tensor, Tensor>? fuse)
    {
        var feats = Stages[^1].MaskFeats(x, rois);
        if (fuse is not null) feats = fuse(rois, feats);
        Tensor? last = null, sum = null;
        for (int i = 0; i < NumStages; i++)
        {
            Tensor logits;
            if (MaskInfoFlow)
            {
                var (l, f) = ((HTCMaskHead)Stages[i].MaskHead!).Forward(feats, last);
                (logits, last) = (l!, f);
            }
            else logits = Stages[i].MaskHead!.Forward(feats);
            var p = logits.sigmoid();
            sum = sum is null ? p : sum + p;
        }
        return sum! / (float)NumStages;
    }
}

using DetSharp.Config;
using DetSharp.Engine;
using DetSharp.Models.Common;
using DetSharp.Models.Detectors;
using DetSharp.Models.Onnx;
using DetSharp.Ops;
using DetSharp.Registry;
using DetSharp.Structures;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.RoIHeads;

/// <summary>
/// MMDetection's <c>StandardRoIHead</c>: per image assign + sample the proposals (GT boxes added), pool RoI features
/// (<c>bbox_roi_extractor</c>), <c>bbox_head</c> losses; for masks, the positives through <c>mask_roi_extractor</c>
/// (the bbox extractor when absent) and <c>mask_head</c> (one <see cref="RoIStage"/>). Test: bbox head on all proposals,
/// multiclass NMS, then masks for the kept boxes pasted into the original image.
/// </summary>
[Register(Registries.ModelsName, "StandardRoIHead")]
public class StandardRoIHead : RoIHeadBase
{
    private readonly RoIStage _stage;

    /// <summary>The head's one bbox (+ mask) stage, for the variants that add to its training or test step.</summary>
    private protected RoIStage Stage => _stage;

    public StandardRoIHead([InheritedArguments] RoIHeadArguments args)
        : this(nameof(StandardRoIHead), args, primeSampleAttention: false)
    {
    }

    /// <summary>The standard head under another name; <paramref name="primeSampleAttention"/> turns on PISA's isr/carl.</summary>
    protected StandardRoIHead(string name, RoIHeadArguments args, bool primeSampleAttention)
        : base(name, args)
    {
        BaseRoIExtractor? bboxExtractor = null, maskExtractor = null;
        ConvFCBBoxHead? bboxHead = null;
        FCNMaskHead? maskHead = null;
        if (args.BboxHead is not null)
        {
            bboxExtractor = Builders.Model<BaseRoIExtractor>(Dict(args.BboxRoiExtractor ?? throw new DetSharpException("StandardRoIHead: bbox_roi_extractor is required with bbox_head."), "bbox_roi_extractor"));
            bboxHead = Builders.Model<ConvFCBBoxHead>(Dict(args.BboxHead, "bbox_head"));
            register_module("bbox_roi_extractor", bboxExtractor);
            register_module("bbox_head", bboxHead);
        }
        if (args.MaskHead is not null)
        {
            if (args.MaskRoiExtractor is not null)
            {
                maskExtractor = Builders.Model<BaseRoIExtractor>(Dict(args.MaskRoiExtractor, "mask_roi_extractor"));
                register_module("mask_roi_extractor", maskExtractor);
            }
            maskHead = Builders.Model<FCNMaskHead>(Dict(args.MaskHead, "mask_head"));
            register_module("mask_head", maskHead);
        }
        _stage = new RoIStage(bboxExtractor, bboxHead, maskExtractor, maskHead, args.TrainCfg is null ? null : Dict(args.TrainCfg, "train_cfg"),
            primeSampleAttention, SharedHead);
    }

    private static ConfigDict Dict(object value, string key) =>
        value as ConfigDict ?? throw new DetSharpException($"StandardRoIHead: {key} must be a dict, got {ConfigValue.Describe(value)}.");

    public override bool WithMask => _stage.MaskHead is not null;

    public override int NumClasses => _stage.BboxHead?.NumClasses ?? 0;

    public ConvFCBBoxHead BboxHead => _stage.BboxHead ?? throw new InvalidOperationException("no bbox head");

    public BaseRoIExtractor BboxRoiExtractor => _stage.BboxRoiExtractor ?? throw new InvalidOperationException("no bbox head");

    public FCNMaskHead? MaskHead => _stage.MaskHead;

    /// <summary><c>_bbox_forward</c>: logits and deltas for [K, 5] RoIs.</summary>
    public (Tensor ClsScore, Tensor BboxPred, Tensor BboxFeats) BboxForward(Tensor[] x, Tensor rois) => _stage.BboxForward(x, rois);

    /// <summary><c>_mask_forward</c>: mask logits for [K, 5] RoIs.</summary>
    public Tensor MaskForward(Tensor[] x, Tensor rois) => _stage.MaskForward(x, rois);

    public override LossDict ForwardTrain(Tensor[] x, IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor> proposals,
        IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor> gtLabels, IReadOnlyList<Tensor?>? gtBboxesIgnore, IReadOnlyList<IInstanceMasks>? gtMasks,
        Tensor[]? auxiliary = null) =>
        _stage.ForwardTrain(x, imgMetas, proposals, gtBboxes, gtLabels, gtBboxesIgnore, gtMasks, auxiliary, AuxLossWeight).Losses;

    public override List<DetectionResult> SimpleTest(Tensor[] x, IReadOnlyList<Tensor> proposals, IReadOnlyList<ImgMeta> imgMetas, bool rescale)
    {
        var cfg = RequireTestCfg();
        using var scope = NewDisposeScope();
        var (dets, labels) = SimpleTestBboxes(x, proposals, imgMetas, rescale, cfg);
        var masks = _stage.MaskHead is { } maskHead
            ? RoIStage.TestMasks(maskHead, dets, labels, imgMetas, rescale, cfg.Get("mask_thr_binary", 0.5), r => MaskForward(x, r).sigmoid())
            : null;
        var results = new List<DetectionResult>(imgMetas.Count);
        for (int i = 0; i < imgMetas.Count; i++)
            results.Add(DetectionResult.FromTensors(dets[i], labels[i], masks?[i], NumClasses));
        return results;
    }

    /// <summary>
    /// <see cref="SimpleTest"/> (rescale=False) as ONNX nodes for one image: the bbox head on the proposals [N, 5],
    /// multiclass NMS, and for a mask head the kept detections' mask probabilities of their class, [N, h, w] (pasted into
    /// the image outside the graph, as <see cref="FCNMaskHead.GetSegMasks"/>). <paramref name="maxWhwh"/> is the image's
    /// (w, h, w, h) the boxes are clipped to.
    /// </summary>
    public (string Dets, string Labels, string? Masks) ExportSimpleTest(OnnxExportContext ctx, IReadOnlyList<string> x, string proposals, string maxWhwh)
    {
        if (GetType() != typeof(StandardRoIHead) && GetType() != typeof(PISARoIHead)) throw ctx.Unsupported(this, "its own test step");
        var cfg = RequireTestCfg();
        string rois = ctx.Slice(proposals, 1, 0, 4, ctx.ValueName(this, "rois"));
        var (cls, reg) = _stage.ExportBboxForward(ctx, x, rois);
        var (dets, labels) = BboxHead.ExportGetBboxes(ctx, rois, cls, reg, maxWhwh, cfg);
        if (_stage.MaskHead is not { } maskHead) return (dets, labels, null);
        string boxes = ctx.Slice(dets, 1, 0, 4, ctx.ValueName(this, "mask_rois"));
        string probs = ctx.Sigmoid(_stage.ExportMaskForward(ctx, x, boxes), ctx.ValueName(maskHead, "sigmoid"));
        return (dets, labels, maskHead.ExportLabelProbs(ctx, probs, labels, ctx.ValueName(maskHead, "probs")));
    }

    /// <summary>
    /// <c>aug_test</c> (<c>aug_test_bboxes</c> + <c>aug_test_mask</c>): per augmentation the merged proposals mapped into
    /// its input and scored; boxes and scores averaged back in the original image (<see cref="MergeAugs.MergeAugBboxes"/>),
    /// then multiclass NMS; the kept boxes mapped into every augmentation again for masks, whose probabilities are
    /// averaged (<see cref="MergeAugs.MergeAugMasks"/>) and pasted into the original image.
    /// </summary>
    public override DetectionResult AugTest(IReadOnlyList<Tensor[]> feats, Tensor proposals, IReadOnlyList<ImgMeta> augMetas, bool rescale)
    {
        var cfg = RequireTestCfg();
        using var scope = NewDisposeScope();
        var augBboxes = new List<Tensor>(augMetas.Count);
        var augScores = new List<Tensor>(augMetas.Count);
        for (int a = 0; a < augMetas.Count; a++)
        {
            var rois = BoxTools.Bbox2Roi([MergeAugs.BboxMapping(proposals[.., 0..4], augMetas[a])]);
            var (cls, reg, _) = BboxForward(feats[a], rois);
            var (b, s) = BboxHead.DecodeBboxes(rois, cls, reg, augMetas[a], rescale: false);
            augBboxes.Add(b);
            augScores.Add(s);
        }
        var (dets, labels) = MergeAugDetections(augBboxes, augScores, augMetas, cfg);
        var masks = _stage.MaskHead is { } maskHead
            ? AugTestMasks(maskHead, dets, labels, augMetas, cfg, (a, rois) => MaskForward(feats[a], rois).sigmoid())
            : null;
        // Without rescale the boxes are given in the first augmentation's input scale, as MMDetection does.
        var outDets = rescale ? dets : cat([dets[.., 0..4] * tensor(augMetas[0].ScaleFactor), dets[.., 4..5]], 1);
        return DetectionResult.FromTensors(outDets, labels, masks, NumClasses);
    }

    /// <summary><c>simple_test_bboxes</c>: each image's detections [K, 5] and labels [K] after the bbox head and multiclass NMS.</summary>
    private protected (List<Tensor> Dets, List<Tensor> Labels) SimpleTestBboxes(Tensor[] x, IReadOnlyList<Tensor> proposals,
        IReadOnlyList<ImgMeta> imgMetas, bool rescale, ConfigDict cfg)
    {
        var rois = BoxTools.Bbox2Roi(proposals);
        var dets = new List<Tensor>();
        var labels = new List<Tensor>();
        var sizes = proposals.Select(p => p.shape[0]).ToList();
        List<Tensor>? clsS = null, regS = null, roisS = null;
        if (rois.shape[0] > 0)
        {
            var (cls, reg, _) = BboxForward(x, rois);
            (roisS, clsS, regS) = (Split(rois, sizes), Split(cls, sizes), Split(reg, sizes));
        }
        for (int i = 0; i < imgMetas.Count; i++)
        {
            var (d, l) = sizes[i] == 0 || roisS is null ? NoDetections() : BboxHead.GetBboxes(roisS[i], clsS![i], regS![i], imgMetas[i], rescale, cfg);
            dets.Add(d);
            labels.Add(l);
        }
        return (dets, labels);
    }
}

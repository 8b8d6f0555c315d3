using DetSharp.Engine;
using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Models.Detectors;
using DetSharp.Models.TaskModules;
using DetSharp.Registry;
using DetSharp.Structures;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.RoIHeads;

/// <summary>
/// MMDetection's <c>StandardRoIHead</c>: per image assign + sample the proposals (GT boxes added), pool RoI features
/// (<c>bbox_roi_extractor</c>), <c>bbox_head</c> losses; for masks, the positives through <c>mask_roi_extractor</c>
/// (the bbox extractor when absent) and <c>mask_head</c>. Test: bbox head on all proposals, multiclass NMS, then masks
/// for the kept boxes pasted into the original image.
/// </summary>
[Register(Registries.ModelsName, "StandardRoIHead")]
public sealed class StandardRoIHead : RoIHeadBase
{
    private readonly SingleRoIExtractor? _bboxRoiExtractor;
    private readonly ConvFCBBoxHead? _bboxHead;
    private readonly SingleRoIExtractor? _maskRoiExtractor;
    private readonly FCNMaskHead? _maskHead;
    private readonly ConfigDict? _trainCfg;
    private readonly ConfigDict? _testCfg;
    private readonly IBBoxAssigner? _assigner;
    private readonly IBBoxSampler? _sampler;

    public StandardRoIHead(
        ConfigDict? bboxRoiExtractor = null,
        ConfigDict? bboxHead = null,
        ConfigDict? maskRoiExtractor = null,
        ConfigDict? maskHead = null,
        ConfigDict? sharedHead = null,
        ConfigDict? trainCfg = null,
        ConfigDict? testCfg = null,
        string? pretrained = null,
        object? initCfg = null,
        double auxLossWeight = 0.25)
        : base(nameof(StandardRoIHead))
    {
        if (sharedHead is not null) throw new DetSharpException("StandardRoIHead: shared_head is not supported.");
        _ = pretrained;
        _ = initCfg;
        AuxLossWeight = auxLossWeight;
        if (bboxHead is not null)
        {
            _bboxRoiExtractor = Builders.Model<SingleRoIExtractor>(bboxRoiExtractor ?? throw new DetSharpException("StandardRoIHead: bbox_roi_extractor is required with bbox_head."));
            _bboxHead = Builders.Model<ConvFCBBoxHead>(bboxHead);
            register_module("bbox_roi_extractor", _bboxRoiExtractor);
            register_module("bbox_head", _bboxHead);
        }
        if (maskHead is not null)
        {
            if (maskRoiExtractor is not null)
            {
                _maskRoiExtractor = Builders.Model<SingleRoIExtractor>(maskRoiExtractor);
                register_module("mask_roi_extractor", _maskRoiExtractor);
            }
            else _maskRoiExtractor = _bboxRoiExtractor;
            _maskHead = Builders.Model<FCNMaskHead>(maskHead);
            register_module("mask_head", _maskHead);
        }
        _trainCfg = trainCfg;
        _testCfg = testCfg;
        if (trainCfg is not null)
        {
            _assigner = Builders.TaskModule<IBBoxAssigner>(trainCfg.Get<ConfigDict>("assigner"));
            _sampler = Builders.TaskModule<IBBoxSampler>(trainCfg.Get<ConfigDict>("sampler"));
        }
    }

    public override bool WithMask => _maskHead is not null;

    public override int NumClasses => _bboxHead?.NumClasses ?? 0;

    /// <summary>Weight of the Consistent Supervision losses (used only when the neck provides lateral maps).</summary>
    public double AuxLossWeight { get; }

    public ConvFCBBoxHead BboxHead => _bboxHead ?? throw new InvalidOperationException("no bbox head");

    public SingleRoIExtractor BboxRoiExtractor => _bboxRoiExtractor ?? throw new InvalidOperationException("no bbox head");

    public FCNMaskHead? MaskHead => _maskHead;

    /// <summary><c>_bbox_forward</c>: logits and deltas for [K, 5] RoIs.</summary>
    public (Tensor ClsScore, Tensor BboxPred, Tensor BboxFeats) BboxForward(Tensor[] x, Tensor rois)
    {
        var feats = BboxRoiExtractor.Forward(x.Take(BboxRoiExtractor.NumInputs).ToArray(), rois);
        var (cls, reg) = BboxHead.Forward(feats);
        return (cls, reg, feats);
    }

    /// <summary><c>_mask_forward</c>: mask logits for [K, 5] RoIs.</summary>
    public Tensor MaskForward(Tensor[] x, Tensor rois)
    {
        var feats = _maskRoiExtractor!.Forward(x.Take(_maskRoiExtractor.NumInputs).ToArray(), rois);
        return _maskHead!.Forward(feats);
    }

    public override LossDict ForwardTrain(Tensor[] x, IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor> proposals,
        IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor> gtLabels, IReadOnlyList<Tensor?>? gtBboxesIgnore, IReadOnlyList<IInstanceMasks>? gtMasks)
    {
        if (_assigner is null || _sampler is null || _trainCfg is null)
            throw new InvalidOperationException("StandardRoIHead.ForwardTrain needs train_cfg (assigner, sampler).");
        var sampling = new List<SamplingResult>();
        for (int i = 0; i < imgMetas.Count; i++)
        {
            var assign = _assigner.Assign(proposals[i], gtBboxes[i], gtBboxesIgnore?[i], gtLabels[i]);
            sampling.Add(_sampler.Sample(assign, proposals[i], gtBboxes[i], gtLabels[i]));
        }
        var losses = new LossDict();
        var rois = BoxTools.Bbox2Roi(sampling.Select(s => s.Bboxes).ToList());
        var (cls, reg, _) = BboxForward(x, rois);
        var targets = BboxHead.GetTargets(sampling, _trainCfg);
        foreach (var (k, v) in BboxHead.Loss(cls, reg, targets).Items) losses.Add(k, v);
        if (AuxiliaryFeatures is { } aux && AuxLossWeight > 0)
        {
            foreach (var (k, v) in ConsistentSupervision.Losses(aux, rois, BboxRoiExtractor, BboxHead, targets, AuxLossWeight).Items)
                losses.Add(k, v);
        }
        if (_maskHead is not null)
        {
            if (gtMasks is null) throw new ArgumentException("gt_masks are required to train a mask head.");
            var posRois = BoxTools.Bbox2Roi(sampling.Select(s => s.PosBboxes).ToList());
            var maskPred = MaskForward(x, posRois);
            var maskTargets = _maskHead.GetTargets(sampling, gtMasks, _trainCfg);
            var posLabels = cat(sampling.Select(s => s.PosGtLabels!).ToList());
            losses.Add("loss_mask", _maskHead.Loss(maskPred, maskTargets, posLabels));
        }
        return losses;
    }

    public override List<DetectionResult> SimpleTest(Tensor[] x, IReadOnlyList<Tensor> proposals, IReadOnlyList<ImgMeta> imgMetas, bool rescale)
    {
        var cfg = _testCfg ?? throw new InvalidOperationException("StandardRoIHead.SimpleTest needs test_cfg.");
        using var scope = NewDisposeScope();
        var rois = BoxTools.Bbox2Roi(proposals);
        var dets = new List<Tensor>();
        var labels = new List<Tensor>();
        if (rois.shape[0] == 0)
        {
            foreach (var _ in imgMetas)
            {
                dets.Add(zeros(0, 5));
                labels.Add(zeros(0, ScalarType.Int64));
            }
        }
        else
        {
            var (cls, reg, _) = BboxForward(x, rois);
            var sizes = proposals.Select(p => p.shape[0]).ToList();
            var roisS = Split(rois, sizes);
            var clsS = Split(cls, sizes);
            var regS = Split(reg, sizes);
            for (int i = 0; i < imgMetas.Count; i++)
            {
                if (sizes[i] == 0)
                {
                    dets.Add(zeros(0, 5));
                    labels.Add(zeros(0, ScalarType.Int64));
                    continue;
                }
                var (d, l) = BboxHead.GetBboxes(roisS[i], clsS[i], regS[i], imgMetas[i], rescale, cfg);
                dets.Add(d);
                labels.Add(l);
            }
        }
        var results = new List<DetectionResult>();
        List<Rle[]>? masks = null;
        if (_maskHead is not null)
        {
            masks = new List<Rle[]>();
            double thr = cfg.Get("mask_thr_binary", 0.5);
            var boxes = new List<Tensor>();
            for (int i = 0; i < imgMetas.Count; i++)
            {
                var b = dets[i][.., 0..4];
                if (rescale) b = b * tensor(imgMetas[i].ScaleFactor);
                boxes.Add(b);
            }
            if (boxes.All(b => b.shape[0] == 0))
            {
                foreach (var _ in imgMetas) masks.Add([]);
            }
            else
            {
                var maskRois = BoxTools.Bbox2Roi(boxes);
                var pred = MaskForward(x, maskRois).sigmoid();
                var preds = Split(pred, boxes.Select(b => b.shape[0]).ToList());
                for (int i = 0; i < imgMetas.Count; i++)
                    masks.Add(boxes[i].shape[0] == 0 ? [] : _maskHead.GetSegMasks(preds[i], boxes[i], labels[i], thr, imgMetas[i], rescale));
            }
        }
        for (int i = 0; i < imgMetas.Count; i++)
            results.Add(ToResult(dets[i], labels[i], masks?[i], NumClasses));
        return results;
    }
}

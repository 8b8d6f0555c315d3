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
/// MMDetection's <c>CascadeRoIHead</c>: <c>num_stages</c> bbox heads (<c>bbox_head.i</c>) and mask heads
/// (<c>mask_head.i</c>; a single dict is replicated). Training: each stage assigns and samples with its own
/// <c>train_cfg[i]</c>, its losses are logged as <c>s{i}.*</c> and multiplied by <c>stage_loss_weights[i]</c>
/// (accuracies not), then the RoIs are refined by the stage's regression (labels: the targets, background replaced by
/// the predicted class) with the GT proposals dropped. Test: stages run in turn on refined RoIs, the final score is the
/// softmax of the stages' mean logits, boxes from the last stage; masks are the mean of all stages' sigmoid masks.
/// </summary>
[Register(Registries.ModelsName, "CascadeRoIHead")]
public sealed class CascadeRoIHead : RoIHeadBase
{
    private readonly List<SingleRoIExtractor> _bboxRoiExtractors = [];
    private readonly List<ConvFCBBoxHead> _bboxHeads = [];
    private readonly List<SingleRoIExtractor> _maskRoiExtractors = [];
    private readonly List<FCNMaskHead> _maskHeads = [];
    private readonly bool _shareRoiExtractor;

    /// <summary>True when the mask branch reuses the bbox RoI extractors (no mask_roi_extractor given).</summary>
    public bool ShareRoiExtractor => _shareRoiExtractor;
    private readonly ConfigDict[]? _trainCfg;
    private readonly ConfigDict? _testCfg;
    private readonly List<IBBoxAssigner> _assigners = [];
    private readonly List<IBBoxSampler> _samplers = [];

    public CascadeRoIHead(
        int numStages,
        double[] stageLossWeights,
        object? bboxRoiExtractor = null,
        object? bboxHead = null,
        object? maskRoiExtractor = null,
        object? maskHead = null,
        ConfigDict? sharedHead = null,
        object? trainCfg = null,
        ConfigDict? testCfg = null,
        string? pretrained = null,
        object? initCfg = null,
        double auxLossWeight = 0.25)
        : base(nameof(CascadeRoIHead))
    {
        if (sharedHead is not null) throw new DetSharpException("CascadeRoIHead: shared_head is not supported.");
        if (stageLossWeights.Length != numStages)
            throw new DetSharpException($"CascadeRoIHead: stage_loss_weights has {stageLossWeights.Length} entries for {numStages} stages.");
        _ = pretrained;
        _ = initCfg;
        NumStages = numStages;
        StageLossWeights = stageLossWeights;
        AuxLossWeight = auxLossWeight;
        if (bboxHead is not null)
        {
            foreach (var c in PerStage(bboxRoiExtractor, "bbox_roi_extractor")) _bboxRoiExtractors.Add(Builders.Model<SingleRoIExtractor>(c));
            foreach (var c in PerStage(bboxHead, "bbox_head")) _bboxHeads.Add(Builders.Model<ConvFCBBoxHead>(c));
            register_module("bbox_roi_extractor", nn.ModuleList(_bboxRoiExtractors.ToArray()));
            register_module("bbox_head", nn.ModuleList(_bboxHeads.ToArray()));
        }
        if (maskHead is not null)
        {
            foreach (var c in PerStage(maskHead, "mask_head")) _maskHeads.Add(Builders.Model<FCNMaskHead>(c));
            register_module("mask_head", nn.ModuleList(_maskHeads.ToArray()));
            if (maskRoiExtractor is not null)
            {
                foreach (var c in PerStage(maskRoiExtractor, "mask_roi_extractor")) _maskRoiExtractors.Add(Builders.Model<SingleRoIExtractor>(c));
                register_module("mask_roi_extractor", nn.ModuleList(_maskRoiExtractors.ToArray()));
            }
            else
            {
                _shareRoiExtractor = true;
                _maskRoiExtractors.AddRange(_bboxRoiExtractors);
            }
        }
        _testCfg = testCfg;
        if (trainCfg is not null)
        {
            _trainCfg = PerStage(trainCfg, "train_cfg").ToArray();
            foreach (var c in _trainCfg)
            {
                _assigners.Add(Builders.TaskModule<IBBoxAssigner>(c.Get<ConfigDict>("assigner")));
                _samplers.Add(Builders.TaskModule<IBBoxSampler>(c.Get<ConfigDict>("sampler")));
            }
        }
    }

    private List<ConfigDict> PerStage(object? value, string key)
    {
        switch (value)
        {
            case ConfigDict d:
                return Enumerable.Range(0, NumStages).Select(_ => d.Clone()).ToList();
            case IList<object?> list:
                if (list.Count != NumStages)
                    throw new DetSharpException($"CascadeRoIHead: {key} has {list.Count} entries for {NumStages} stages.");
                return list.Select(v => v as ConfigDict ?? throw new DetSharpException($"CascadeRoIHead: every {key} entry must be a dict.")).ToList();
            default:
                throw new DetSharpException($"CascadeRoIHead: {key} must be a dict or a list of dicts.");
        }
    }

    public int NumStages { get; }

    public double[] StageLossWeights { get; }

    public double AuxLossWeight { get; }

    public override bool WithMask => _maskHeads.Count > 0;

    public override int NumClasses => _bboxHeads.Count > 0 ? _bboxHeads[^1].NumClasses : 0;

    public IReadOnlyList<ConvFCBBoxHead> BboxHeads => _bboxHeads;

    public IReadOnlyList<FCNMaskHead> MaskHeads => _maskHeads;

    /// <summary><c>_bbox_forward(stage, x, rois)</c>.</summary>
    public (Tensor ClsScore, Tensor BboxPred) BboxForward(int stage, Tensor[] x, Tensor rois)
    {
        var ex = _bboxRoiExtractors[stage];
        var feats = ex.Forward(x.Take(ex.NumInputs).ToArray(), rois);
        return _bboxHeads[stage].Forward(feats);
    }

    /// <summary><c>_mask_forward(stage, x, rois)</c>.</summary>
    public Tensor MaskForward(int stage, Tensor[] x, Tensor rois)
    {
        var ex = _maskRoiExtractors[stage];
        var feats = ex.Forward(x.Take(ex.NumInputs).ToArray(), rois);
        return _maskHeads[stage].Forward(feats);
    }

    public override LossDict ForwardTrain(Tensor[] x, IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor> proposals,
        IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor> gtLabels, IReadOnlyList<Tensor?>? gtBboxesIgnore, IReadOnlyList<IInstanceMasks>? gtMasks)
    {
        if (_trainCfg is null) throw new InvalidOperationException("CascadeRoIHead.ForwardTrain needs train_cfg.");
        var losses = new LossDict();
        IReadOnlyList<Tensor> proposalList = proposals;
        for (int i = 0; i < NumStages; i++)
        {
            double lw = StageLossWeights[i];
            var sampling = new List<SamplingResult>();
            for (int j = 0; j < imgMetas.Count; j++)
            {
                var assign = _assigners[i].Assign(proposalList[j], gtBboxes[j], gtBboxesIgnore?[j], gtLabels[j]);
                sampling.Add(_samplers[i].Sample(assign, proposalList[j], gtBboxes[j], gtLabels[j]));
            }
            var rois = BoxTools.Bbox2Roi(sampling.Select(s => s.Bboxes).ToList());
            var (cls, reg) = BboxForward(i, x, rois);
            var targets = _bboxHeads[i].GetTargets(sampling, _trainCfg[i]);
            foreach (var (k, v) in _bboxHeads[i].Loss(cls, reg, targets).Items)
                losses.Add($"s{i}.{k}", k.Contains("loss", StringComparison.Ordinal) ? v.Select(t => t * lw).ToArray() : v);
            if (i == 0 && AuxiliaryFeatures is { } aux && AuxLossWeight > 0)
            {
                foreach (var (k, v) in ConsistentSupervision.Losses(aux, rois, _bboxRoiExtractors[0], _bboxHeads[0], targets, AuxLossWeight).Items)
                    losses.Add($"s{i}.{k}", v.Select(t => t * lw).ToArray());
            }
            if (WithMask)
            {
                if (gtMasks is null) throw new ArgumentException("gt_masks are required to train a mask head.");
                var posRois = BoxTools.Bbox2Roi(sampling.Select(s => s.PosBboxes).ToList());
                var maskPred = MaskForward(i, x, posRois);
                var maskTargets = _maskHeads[i].GetTargets(sampling, gtMasks, _trainCfg[i]);
                var posLabels = cat(sampling.Select(s => s.PosGtLabels!).ToList());
                losses.Add($"s{i}.loss_mask", _maskHeads[i].Loss(maskPred, maskTargets, posLabels) * lw);
            }
            if (i < NumStages - 1)
            {
                using var noGrad = no_grad();
                if (cls.numel() == 0) break;
                var roiLabels = where(targets.Labels == _bboxHeads[i].NumClasses, cls[.., ..^1].argmax(1), targets.Labels);
                proposalList = _bboxHeads[i].RefineBboxes(rois, roiLabels, reg, sampling.Select(s => s.PosIsGt).ToList(), imgMetas);
            }
        }
        return losses;
    }

    public override List<DetectionResult> SimpleTest(Tensor[] x, IReadOnlyList<Tensor> proposals, IReadOnlyList<ImgMeta> imgMetas, bool rescale)
    {
        var cfg = _testCfg ?? throw new InvalidOperationException("CascadeRoIHead.SimpleTest needs test_cfg.");
        using var scope = NewDisposeScope();
        int numImgs = imgMetas.Count;
        var rois = BoxTools.Bbox2Roi(proposals);
        var sizes = proposals.Select(p => p.shape[0]).ToList();
        if (rois.shape[0] == 0)
            return imgMetas.Select(_ => DetectionResult.Empty(NumClasses, WithMask)).ToList();
        var msScores = new List<List<Tensor>>();
        List<Tensor> roisS = [], regS = [];
        for (int i = 0; i < NumStages; i++)
        {
            var (cls, reg) = BboxForward(i, x, rois);
            roisS = Split(rois, sizes);
            var clsS = Split(cls, sizes);
            regS = Split(reg, sizes);
            msScores.Add(clsS);
            if (i < NumStages - 1)
            {
                var refined = new List<Tensor>();
                for (int j = 0; j < numImgs; j++)
                {
                    var label = clsS[j][.., ..^1].argmax(1);
                    refined.Add(_bboxHeads[i].RegressByClass(roisS[j], label, regS[j], imgMetas[j]));
                }
                rois = cat(refined);
            }
        }
        var dets = new List<Tensor>();
        var labels = new List<Tensor>();
        for (int j = 0; j < numImgs; j++)
        {
            if (sizes[j] == 0)
            {
                dets.Add(zeros(0, 5));
                labels.Add(zeros(0, ScalarType.Int64));
                continue;
            }
            Tensor score = msScores[0][j];
            for (int s = 1; s < msScores.Count; s++) score = score + msScores[s][j];
            score = score / (float)msScores.Count;
            var (d, l) = _bboxHeads[^1].GetBboxes(roisS[j], score, regS[j], imgMetas[j], rescale, cfg);
            dets.Add(d);
            labels.Add(l);
        }
        List<Rle[]>? masks = null;
        if (WithMask)
        {
            masks = new List<Rle[]>();
            double thr = cfg.Get("mask_thr_binary", 0.5);
            var boxes = new List<Tensor>();
            for (int j = 0; j < numImgs; j++)
            {
                var b = dets[j][.., 0..4];
                if (rescale) b = b * tensor(imgMetas[j].ScaleFactor);
                boxes.Add(b);
            }
            if (boxes.All(b => b.shape[0] == 0))
            {
                foreach (var _ in imgMetas) masks.Add([]);
            }
            else
            {
                var maskRois = BoxTools.Bbox2Roi(boxes);
                var perImg = boxes.Select(b => b.shape[0]).ToList();
                Tensor? sum = null;
                for (int i = 0; i < NumStages; i++)
                {
                    var p = MaskForward(i, x, maskRois).sigmoid();
                    sum = sum is null ? p : sum + p;
                }
                var merged = Split(sum! / (float)NumStages, perImg);
                for (int j = 0; j < numImgs; j++)
                    masks.Add(boxes[j].shape[0] == 0 ? [] : _maskHeads[^1].GetSegMasks(merged[j], boxes[j], labels[j], thr, imgMetas[j], rescale));
            }
        }
        var results = new List<DetectionResult>();
        for (int j = 0; j < numImgs; j++)
            results.Add(ToResult(dets[j], labels[j], masks?[j], NumClasses));
        return results;
    }
}

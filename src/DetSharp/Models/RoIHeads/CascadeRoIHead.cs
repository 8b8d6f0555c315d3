using DetSharp.Config;
using DetSharp.Engine;
using DetSharp.Models.Common;
using DetSharp.Models.Detectors;
using DetSharp.Models.Losses;
using DetSharp.Models.Onnx;
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
/// Test-time augmentation (<c>aug_test</c>) does the same per augmentation and merges as MMDetection does.
/// </summary>
[Register(Registries.ModelsName, "CascadeRoIHead")]
public class CascadeRoIHead : RoIHeadBase
{
    private readonly List<RoIStage> _stages = [];

    public CascadeRoIHead(int numStages, double[] stageLossWeights, [InheritedArguments] RoIHeadArguments args)
        : this(nameof(CascadeRoIHead), numStages, stageLossWeights, args)
    {
    }

    /// <summary>The cascade under another name (a head that extends it, as <c>HybridTaskCascadeRoIHead</c>).</summary>
    protected CascadeRoIHead(string name, int numStages, double[] stageLossWeights, RoIHeadArguments args)
        : base(name, args)
    {
        if (stageLossWeights.Length != numStages)
            throw new DetSharpException($"{name}: stage_loss_weights has {stageLossWeights.Length} entries for {numStages} stages.");
        if (SharedHead is not null)
            throw new DetSharpException($"{name}: shared_head is not used by a cascade (MMDetection's ignores it); remove it from roi_head.");
        NumStages = numStages;
        StageLossWeights = stageLossWeights;
        var bboxExtractors = new List<BaseRoIExtractor>();
        var bboxHeads = new List<ConvFCBBoxHead>();
        var maskExtractors = new List<BaseRoIExtractor>();
        var maskHeads = new List<FCNMaskHead>();
        if (args.BboxHead is not null)
        {
            foreach (var c in PerStage(args.BboxRoiExtractor, "bbox_roi_extractor")) bboxExtractors.Add(Builders.Model<BaseRoIExtractor>(c));
            foreach (var c in PerStage(args.BboxHead, "bbox_head")) bboxHeads.Add(Builders.Model<ConvFCBBoxHead>(c));
            register_module("bbox_roi_extractor", nn.ModuleList(bboxExtractors.ToArray()));
            register_module("bbox_head", nn.ModuleList(bboxHeads.ToArray()));
        }
        if (args.MaskHead is not null)
        {
            foreach (var c in PerStage(args.MaskHead, "mask_head")) maskHeads.Add(Builders.Model<FCNMaskHead>(c));
            register_module("mask_head", nn.ModuleList(maskHeads.ToArray()));
            if (args.MaskRoiExtractor is not null)
            {
                foreach (var c in PerStage(args.MaskRoiExtractor, "mask_roi_extractor")) maskExtractors.Add(Builders.Model<BaseRoIExtractor>(c));
                register_module("mask_roi_extractor", nn.ModuleList(maskExtractors.ToArray()));
            }
            else ShareRoiExtractor = true;
        }
        var trainCfgs = args.TrainCfg is null ? null : PerStage(args.TrainCfg, "train_cfg");
        for (int i = 0; i < numStages; i++)
        {
            _stages.Add(new RoIStage(bboxExtractors.ElementAtOrDefault(i), bboxHeads.ElementAtOrDefault(i), maskExtractors.ElementAtOrDefault(i),
                maskHeads.ElementAtOrDefault(i), trainCfgs?[i]));
        }
    }

    /// <summary>True when the mask branch reuses the bbox RoI extractors (no mask_roi_extractor given).</summary>
    public bool ShareRoiExtractor { get; }

    private List<ConfigDict> PerStage(object? value, string key)
    {
        switch (value)
        {
            case ConfigDict d:
                return Enumerable.Range(0, NumStages).Select(_ => d.Clone()).ToList();
            case IList<object?> list:
                if (list.Count != NumStages)
                    throw new DetSharpException($"{GetType().Name}: {key} has {list.Count} entries for {NumStages} stages.");
                return list.Select(v => v as ConfigDict ?? throw new DetSharpException($"{GetType().Name}: every {key} entry must be a dict.")).ToList();
            default:
                throw new DetSharpException($"{GetType().Name}: {key} must be a dict or a list of dicts.");
        }
    }

    public int NumStages { get; }

    public double[] StageLossWeights { get; }

    public override bool WithMask => _stages[0].MaskHead is not null;

    public override int NumClasses => _stages[^1].BboxHead?.NumClasses ?? 0;

    public IReadOnlyList<ConvFCBBoxHead> BboxHeads => _stages.Where(s => s.BboxHead is not null).Select(s => s.BboxHead!).ToList();

    /// <summary>The stages, in order (each with its bbox and mask parts and <c>train_cfg</c>).</summary>
    internal IReadOnlyList<RoIStage> Stages => _stages;

    public IReadOnlyList<FCNMaskHead> MaskHeads => _stages.Where(s => s.MaskHead is not null).Select(s => s.MaskHead!).ToList();

    /// <summary><c>_bbox_forward(stage, x, rois)</c>.</summary>
    public (Tensor ClsScore, Tensor BboxPred) BboxForward(int stage, Tensor[] x, Tensor rois)
    {
        var (cls, reg, _) = _stages[stage].BboxForward(x, rois);
        return (cls, reg);
    }

    /// <summary><c>_mask_forward(stage, x, rois)</c>.</summary>
    public Tensor MaskForward(int stage, Tensor[] x, Tensor rois) => _stages[stage].MaskForward(x, rois);

    /// <summary>
    /// Each stage trains as a <see cref="RoIStage"/> on the previous stage's refined proposals; its losses are logged as
    /// <c>s{i}.*</c>, multiplied by <c>stage_loss_weights[i]</c> (accuracies not). Consistent Supervision applies to the
    /// first stage.
    /// </summary>
    public override LossDict ForwardTrain(Tensor[] x, IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor> proposals,
        IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor> gtLabels, IReadOnlyList<Tensor?>? gtBboxesIgnore, IReadOnlyList<IInstanceMasks>? gtMasks,
        Tensor[]? auxiliary = null)
    {
        var losses = new LossDict();
        IReadOnlyList<Tensor> proposalList = proposals;
        for (int i = 0; i < NumStages; i++)
        {
            double lw = StageLossWeights[i];
            var stage = _stages[i];
            var output = stage.ForwardTrain(x, imgMetas, proposalList, gtBboxes, gtLabels, gtBboxesIgnore, gtMasks, i == 0 ? auxiliary : null, AuxLossWeight);
            AddStageLosses(losses, i, output.Losses);
            if (i < NumStages - 1)
            {
                if (output.ClsScore.numel() == 0) break;
                proposalList = RefineBboxes(i, output, imgMetas, backgroundAsPredicted: true);
            }
        }
        return losses;
    }

    /// <summary>Stage <paramref name="stage"/>'s losses logged as <c>s{i}.*</c>, those named loss multiplied by its <c>stage_loss_weights</c> entry.</summary>
    protected void AddStageLosses(LossDict losses, int stage, LossDict stageLosses)
    {
        double lw = StageLossWeights[stage];
        foreach (var (k, v) in stageLosses.Items)
            losses.Add($"s{stage}.{k}", k.Contains("loss", StringComparison.Ordinal) ? v.Select(t => t * lw).ToArray() : v);
    }

    /// <summary>
    /// <c>refine_bboxes</c> (no gradient): the sampled RoIs regressed by the stage's deltas, GT proposals dropped. The
    /// labels are the targets; <paramref name="backgroundAsPredicted"/> (CascadeRoIHead, not HTC) replaces background
    /// ones by the predicted class.
    /// </summary>
    internal List<Tensor> RefineBboxes(int stage, RoIStage.TrainOutput output, IReadOnlyList<ImgMeta> imgMetas, bool backgroundAsPredicted)
    {
        using var noGrad = no_grad();
        var head = _stages[stage].BboxHead!;
        var roiLabels = backgroundAsPredicted
            ? where(output.Targets.Labels == head.NumClasses, head.RefinementScores(output.ClsScore)[.., ..^1].argmax(1), output.Targets.Labels)
            : output.Targets.Labels;
        return head.RefineBboxes(output.Rois, roiLabels, output.BboxPred, output.Sampling.ConvertAll(s => s.PosIsGt), imgMetas);
    }

    /// <summary>
    /// Test: stages run in turn on refined RoIs; the final score is the softmax of the stages' mean logits, boxes from
    /// the last stage; masks are the mean of all stages' sigmoid masks.
    /// </summary>
    public override List<DetectionResult> SimpleTest(Tensor[] x, IReadOnlyList<Tensor> proposals, IReadOnlyList<ImgMeta> imgMetas, bool rescale) =>
        SimpleTest(x, proposals, imgMetas, rescale, fuse: null, maskProbs: null);

    /// <summary>
    /// The cascade's <c>simple_test</c> with HTC's hooks: <paramref name="fuse"/> as in <see cref="RoIStage.BboxForward"/>;
    /// <paramref name="maskProbs"/> gives the merged sigmoid masks of a batch of RoIs (the mean over the stages' masks when null).
    /// </summary>
    protected List<DetectionResult> SimpleTest(Tensor[] x, IReadOnlyList<Tensor> proposals, IReadOnlyList<ImgMeta> imgMetas, bool rescale,
        Func<Tensor, Tensor, Tensor>? fuse, Func<Tensor, Tensor>? maskProbs)
    {
        var cfg = RequireTestCfg();
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
            var (cls, reg, _) = _stages[i].BboxForward(x, rois, fuse);
            roisS = Split(rois, sizes);
            var clsS = Split(cls, sizes);
            regS = Split(reg, sizes);
            msScores.Add(clsS);
            if (i < NumStages - 1)
            {
                var refined = new List<Tensor>();
                for (int j = 0; j < numImgs; j++)
                {
                    var label = _stages[i].BboxHead!.RefinementScores(clsS[j])[.., ..^1].argmax(1);
                    refined.Add(_stages[i].BboxHead!.RegressByClass(roisS[j], label, regS[j], imgMetas[j]));
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
                var (d0, l0) = NoDetections();
                dets.Add(d0);
                labels.Add(l0);
                continue;
            }
            Tensor score = msScores[0][j];
            for (int s = 1; s < msScores.Count; s++) score = score + msScores[s][j];
            score = score / (float)msScores.Count;
            var (d, l) = _stages[^1].BboxHead!.GetBboxes(roisS[j], score, regS[j], imgMetas[j], rescale, cfg);
            dets.Add(d);
            labels.Add(l);
        }
        var masks = WithMask
            ? RoIStage.TestMasks(_stages[^1].MaskHead!, dets, labels, imgMetas, rescale, cfg.Get("mask_thr_binary", 0.5), maskProbs ?? (r => MeanMaskProbs(x, r)))
            : null;
        var results = new List<DetectionResult>(numImgs);
        for (int j = 0; j < numImgs; j++)
            results.Add(DetectionResult.FromTensors(dets[j], labels[j], masks?[j], NumClasses));
        return results;
    }

    /// <summary>
    /// <see cref="SimpleTest(Tensor[], IReadOnlyList{Tensor}, IReadOnlyList{ImgMeta}, bool)"/> (rescale=False) as ONNX
    /// nodes for one image: the stages on the proposals [N, 5], each refining the RoIs by its argmax class for the next;
    /// the softmax of the stages' mean logits with the last stage's deltas through multiclass NMS; for masks, the mean of
    /// every stage's sigmoid masks of the kept detections, their class's channel, [N, h, w]. <paramref name="maxWhwh"/>
    /// is the image's (w, h, w, h) the boxes are clipped to.
    /// </summary>
    public (string Dets, string Labels, string? Masks) ExportSimpleTest(OnnxExportContext ctx, IReadOnlyList<string> x, string proposals, string maxWhwh)
    {
        if (GetType() != typeof(CascadeRoIHead)) throw ctx.Unsupported(this, "its own test step");
        var cfg = RequireTestCfg();
        string rois = ctx.Slice(proposals, 1, 0, 4, ctx.ValueName(this, "rois"));
        string? sum = null;
        string reg = "";
        for (int i = 0; i < NumStages; i++)
        {
            var head = _stages[i].BboxHead!;
            (string cls, reg) = _stages[i].ExportBboxForward(ctx, x, rois);
            sum = sum is null ? cls : ctx.Add(sum, cls, ctx.ValueName(head, "score_sum"));
            if (i == NumStages - 1) break;
            if (head.LossCls is ICustomClsLoss) throw ctx.Unsupported(head, $"{head.LossCls.GetType().Name}'s own score activation");
            string fg = ctx.Slice(cls, 1, 0, head.NumClasses, ctx.ValueName(head, "fg_logits"));
            string label = ctx.Graph.Node("ArgMax", [fg], ctx.ValueName(head, "refine_labels"), OnnxGraphBuilder.Attr("axis", 1L),
                OnnxGraphBuilder.Attr("keepdims", 0L));
            rois = head.ExportRegressByClass(ctx, rois, label, reg, maxWhwh, ctx.ValueName(head, "refined_rois"));
        }
        string score = ctx.Div(sum!, ctx.Scalar(ctx.ValueName(this, "num_stages"), NumStages), ctx.ValueName(this, "mean_score"));
        var (dets, labels) = _stages[^1].BboxHead!.ExportGetBboxes(ctx, rois, score, reg, maxWhwh, cfg);
        if (!WithMask) return (dets, labels, null);
        string boxes = ctx.Slice(dets, 1, 0, 4, ctx.ValueName(this, "mask_rois"));
        string? probs = null;
        for (int i = 0; i < NumStages; i++)
        {
            var maskHead = _stages[i].MaskHead!;
            string p = ctx.Sigmoid(_stages[i].ExportMaskForward(ctx, x, boxes), ctx.ValueName(maskHead, "sigmoid"));
            probs = probs is null ? p : ctx.Add(probs, p, ctx.ValueName(maskHead, "prob_sum"));
        }
        probs = ctx.Div(probs!, ctx.Scalar(ctx.ValueName(this, "mask_stages"), NumStages), ctx.ValueName(this, "mean_mask"));
        var last = _stages[^1].MaskHead!;
        return (dets, labels, last.ExportLabelProbs(ctx, probs, labels, ctx.ValueName(last, "probs")));
    }

    /// <summary>The cascade's test masks of a batch of RoIs: the mean of every stage's sigmoid masks.</summary>
    private Tensor MeanMaskProbs(Tensor[] x, Tensor maskRois)
    {
        Tensor? sum = null;
        for (int i = 0; i < NumStages; i++)
        {
            var p = MaskForward(i, x, maskRois).sigmoid();
            sum = sum is null ? p : sum + p;
        }
        return sum! / (float)NumStages;
    }

    /// <summary>
    /// <c>aug_test</c>: per augmentation the merged proposals mapped into its input and run through the stages as in
    /// <see cref="SimpleTest(Tensor[], IReadOnlyList{Tensor}, IReadOnlyList{ImgMeta}, bool)"/> (refined between stages;
    /// the softmax of the stages' mean logits, the last stage's boxes); boxes and scores averaged back in the original
    /// image and multiclass NMS; every stage's masks of the kept boxes in every augmentation averaged and pasted. As
    /// MMDetection's, the boxes are in the original image whatever <paramref name="rescale"/>.
    /// </summary>
    public override DetectionResult AugTest(IReadOnlyList<Tensor[]> feats, Tensor proposals, IReadOnlyList<ImgMeta> augMetas, bool rescale) =>
        AugTest(feats, proposals, augMetas, _ => null, (a, rois) => MeanMaskProbs(feats[a], rois), refineOverAllClasses: false);

    /// <summary>
    /// The cascade's <c>aug_test</c> with HTC's hooks: <paramref name="fuse"/>(augmentation) as in
    /// <see cref="RoIStage.BboxForward"/>; <paramref name="maskProbs"/>(augmentation, RoIs) the merged sigmoid masks of
    /// the stages; <paramref name="refineOverAllClasses"/>: the label that refines a RoI between stages is the argmax
    /// over all logits, background included (MMDetection's HTC aug_test), instead of over the object classes.
    /// </summary>
    protected DetectionResult AugTest(IReadOnlyList<Tensor[]> feats, Tensor proposals, IReadOnlyList<ImgMeta> augMetas,
        Func<int, Func<Tensor, Tensor, Tensor>?> fuse, Func<int, Tensor, Tensor> maskProbs, bool refineOverAllClasses)
    {
        var cfg = RequireTestCfg();
        using var scope = NewDisposeScope();
        if (proposals.shape[0] == 0) return DetectionResult.Empty(NumClasses, WithMask);
        var augBboxes = new List<Tensor>(augMetas.Count);
        var augScores = new List<Tensor>(augMetas.Count);
        for (int a = 0; a < augMetas.Count; a++)
        {
            var rois = BoxTools.Bbox2Roi([MergeAugs.BboxMapping(proposals[.., 0..4], augMetas[a])]);
            var fuseA = fuse(a);
            Tensor? scoreSum = null, reg = null;
            for (int i = 0; i < NumStages; i++)
            {
                var (cls, r, _) = _stages[i].BboxForward(feats[a], rois, fuseA);
                (scoreSum, reg) = (scoreSum is null ? cls : scoreSum + cls, r);
                if (i < NumStages - 1)
                {
                    var head = _stages[i].BboxHead!;
                    var label = refineOverAllClasses ? cls.argmax(1) : head.RefinementScores(cls)[.., ..^1].argmax(1);
                    rois = head.RegressByClass(rois, label, r, augMetas[a]);
                }
            }
            var (b, s) = _stages[^1].BboxHead!.DecodeBboxes(rois, scoreSum! / (float)NumStages, reg!, augMetas[a], rescale: false);
            augBboxes.Add(b);
            augScores.Add(s);
        }
        var (dets, labels) = MergeAugDetections(augBboxes, augScores, augMetas, cfg);
        var masks = WithMask ? AugTestMasks(_stages[^1].MaskHead!, dets, labels, augMetas, cfg, maskProbs) : null;
        return DetectionResult.FromTensors(dets, labels, masks, NumClasses);
    }
}

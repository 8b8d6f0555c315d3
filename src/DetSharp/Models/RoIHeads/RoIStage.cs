using DetSharp.Config;
using DetSharp.Engine;
using DetSharp.Models.Common;
using DetSharp.Models.Losses;
using DetSharp.Models.Onnx;
using DetSharp.Models.TaskModules;
using DetSharp.Structures;
using DetSharp.Utils;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.RoIHeads;

/// <summary>
/// One bbox (+ mask) stage of a RoI head: what MMDetection's <c>StandardRoIHead</c> does once and
/// <c>CascadeRoIHead</c> does per stage — assign and sample the proposals of every image, pool the sampled RoIs,
/// the bbox head's losses (with AugFPN's Consistent Supervision when auxiliary maps are given), and the mask head's
/// loss on the positives. Not a module: the heads register its parts under their own names (a plain attribute for
/// the standard head, one <c>ModuleList</c> entry per stage for the cascade), which keeps MMDetection's state-dict keys.
/// </summary>
internal sealed class RoIStage
{
    private readonly IBBoxAssigner? _assigner;
    private readonly object? _sampler;
    private readonly bool _primeSampleAttention;
    private readonly nn.Module<Tensor, Tensor>? _sharedHead;

    /// <param name="sharedHead">The RoI head's <c>shared_head</c> (C4's res5), run on the pooled features of both branches.</param>
    /// <param name="primeSampleAttention">PISA (<c>PISARoIHead</c>): apply <c>train_cfg.isr</c> / <c>train_cfg.carl</c> to the bbox losses.</param>
    public RoIStage(BaseRoIExtractor? bboxRoiExtractor, ConvFCBBoxHead? bboxHead, BaseRoIExtractor? maskRoiExtractor, FCNMaskHead? maskHead,
        ConfigDict? trainCfg, bool primeSampleAttention = false, nn.Module<Tensor, Tensor>? sharedHead = null)
    {
        _sharedHead = sharedHead;
        _primeSampleAttention = primeSampleAttention;
        BboxRoiExtractor = bboxRoiExtractor;
        BboxHead = bboxHead;
        MaskRoiExtractor = maskRoiExtractor ?? bboxRoiExtractor;
        MaskHead = maskHead;
        TrainCfg = trainCfg;
        if (trainCfg is not null)
        {
            _assigner = Builders.TaskModule<IBBoxAssigner>(trainCfg.Get<ConfigDict>("assigner"));
            var samplerCfg = trainCfg.Get<ConfigDict>("sampler");
            _sampler = Builders.TaskModule<object>(samplerCfg);
            if (_sampler is not (IBBoxSampler or IRoIContextSampler))
                throw new DetSharpException($"train_cfg.sampler: '{samplerCfg.Get<string>("type")}' is not a box sampler.");
        }
    }

    public BaseRoIExtractor? BboxRoiExtractor { get; }

    public ConvFCBBoxHead? BboxHead { get; }

    /// <summary>The mask branch's extractor: its own, or the bbox branch's when the config gives none.</summary>
    public BaseRoIExtractor? MaskRoiExtractor { get; }

    public FCNMaskHead? MaskHead { get; }

    public ConfigDict? TrainCfg { get; }

    /// <summary>
    /// <c>_bbox_forward</c>: logits, deltas and pooled features for [K, 5] RoIs. <paramref name="fuse"/> (HTC's semantic
    /// fusion) turns the RoIs and their pooled features into the features the head sees.
    /// </summary>
    public (Tensor ClsScore, Tensor BboxPred, Tensor BboxFeats) BboxForward(Tensor[] x, Tensor rois, Func<Tensor, Tensor, Tensor>? fuse = null)
    {
        var extractor = BboxRoiExtractor ?? throw new InvalidOperationException("this RoI head has no bbox branch");
        var feats = Pool(extractor, x, rois);
        if (fuse is not null) feats = fuse(rois, feats);
        var (cls, reg) = BboxHead!.Forward(feats);
        return (cls, reg, feats);
    }

    /// <summary>The mask branch's RoI features (the mask head's and a MaskIoU head's input) for [K, 5] RoIs.</summary>
    public Tensor MaskFeats(Tensor[] x, Tensor rois) =>
        Pool(MaskRoiExtractor ?? throw new InvalidOperationException("this RoI head has no mask branch"), x, rois);

    /// <summary>RoI features from the extractor's levels, through the shared head when there is one.</summary>
    private Tensor Pool(BaseRoIExtractor extractor, Tensor[] x, Tensor rois)
    {
        Tensor feats;
        using (Profiler.Scope(ProfilerSections.RoIExtraction)) feats = extractor.Forward(x.Take(extractor.NumInputs).ToArray(), rois);
        return _sharedHead is null ? feats : _sharedHead.forward(feats);
    }

    /// <summary><c>_mask_forward</c>: mask logits for [K, 5] RoIs.</summary>
    public Tensor MaskForward(Tensor[] x, Tensor rois) => MaskHead!.Forward(MaskFeats(x, rois));

    /// <summary><see cref="BboxForward"/> as ONNX nodes for one image's RoIs [K, 4]: the logits and deltas.</summary>
    public (string ClsScore, string BboxPred) ExportBboxForward(OnnxExportContext ctx, IReadOnlyList<string> x, string rois)
    {
        var outs = ctx.Forward(BboxHead ?? throw new InvalidOperationException("this RoI head has no bbox branch"),
            [ExportPool(ctx, BboxRoiExtractor!, x, rois)]);
        return (outs[0], outs[1]);
    }

    /// <summary><see cref="MaskForward"/> as ONNX nodes for one image's RoIs [K, 4]: the mask logits.</summary>
    public string ExportMaskForward(OnnxExportContext ctx, IReadOnlyList<string> x, string rois) =>
        ctx.Forward(MaskHead ?? throw new InvalidOperationException("this RoI head has no mask branch"), [ExportPool(ctx, MaskRoiExtractor!, x, rois)])[0];

    private string ExportPool(OnnxExportContext ctx, BaseRoIExtractor extractor, IReadOnlyList<string> x, string rois)
    {
        string feats = ctx.Forward(extractor, [.. x.Take(extractor.NumInputs), rois])[0];
        return _sharedHead is null ? feats : ctx.Forward(_sharedHead, feats);
    }

    /// <summary>What one stage's training step produced; the cascade refines the next stage's proposals from it.</summary>
    public sealed record TrainOutput(LossDict Losses, List<SamplingResult> Sampling, Tensor Rois, Tensor ClsScore, Tensor BboxPred, BBoxTargets Targets)
    {
        /// <summary>The mask branch's training step when the stage has one (Mask Scoring R-CNN's IoU head builds on it).</summary>
        public MaskTrainOutput? Mask { get; init; }
    }

    /// <summary>
    /// The mask loss of the positives with its inputs: mask features (null when HTC's information flow made the logits),
    /// mask logits [P, C, m, m], binary targets [P, m, m] and labels.
    /// </summary>
    public sealed record MaskTrainOutput(Tensor Loss, Tensor? MaskFeats, Tensor MaskPred, Tensor MaskTargets, Tensor PosLabels);

    /// <summary>
    /// The stage's training losses (unweighted, under the heads' own names): assign + sample per image, bbox loss,
    /// Consistent Supervision losses when <paramref name="auxiliary"/> maps are given, mask loss on the positives.
    /// </summary>
    public TrainOutput ForwardTrain(Tensor[] x, IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor> proposals, IReadOnlyList<Tensor> gtBboxes,
        IReadOnlyList<Tensor> gtLabels, IReadOnlyList<Tensor?>? gtBboxesIgnore, IReadOnlyList<IInstanceMasks>? gtMasks, Tensor[]? auxiliary, double auxLossWeight)
    {
        var (sampling, negLabelWeights) = Sample(x, imgMetas.Count, proposals, gtBboxes, gtLabels, gtBboxesIgnore);
        var output = BboxTrain(x, sampling, negLabelWeights, auxiliary, auxLossWeight);
        if (MaskHead is null) return output;
        var mask = MaskTrain(x, sampling, gtMasks);
        output.Losses.Add("loss_mask", mask.Loss);
        return output with { Mask = mask };
    }

    /// <summary>
    /// Assigns and samples the proposals of every image with the stage's <c>train_cfg</c>; a scoring sampler (ISR-N)
    /// also gives its negatives' label weights (null otherwise).
    /// </summary>
    public (List<SamplingResult> Sampling, List<Tensor?> NegLabelWeights) Sample(Tensor[] x, int numImgs, IReadOnlyList<Tensor> proposals,
        IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor> gtLabels, IReadOnlyList<Tensor?>? gtBboxesIgnore)
    {
        if (_assigner is null || _sampler is null || TrainCfg is null)
            throw new InvalidOperationException("training a RoI head needs train_cfg (assigner, sampler).");
        using var timed = Profiler.Scope(ProfilerSections.RoIAssignSample);
        var sampling = new List<SamplingResult>(numImgs);
        var negLabelWeights = new List<Tensor?>(numImgs);
        for (int i = 0; i < numImgs; i++)
        {
            var assign = _assigner.Assign(proposals[i], gtBboxes[i], gtBboxesIgnore?[i], gtLabels[i]);
            if (_sampler is IRoIContextSampler scoring)
            {
                var feats = x.Select(level => level[i..(i + 1)]).ToArray();
                var context = new RoISamplerContext(r => { var (c, b, _) = BboxForward(feats, r); return (c, b); }, BboxHead!.LossCls, BboxHead.BboxCoder, BboxHead.NumClasses);
                var (result, negWeights) = scoring.Sample(assign, proposals[i], gtBboxes[i], gtLabels[i], context);
                sampling.Add(result);
                negLabelWeights.Add(negWeights);
            }
            else
            {
                sampling.Add(((IBBoxSampler)_sampler).Sample(assign, proposals[i], gtBboxes[i], gtLabels[i]));
                negLabelWeights.Add(null);
            }
        }
        return (sampling, negLabelWeights);
    }

    /// <summary>
    /// <c>_bbox_forward_train</c>: the bbox losses of the sampled RoIs (with PISA's isr/carl and AugFPN's Consistent
    /// Supervision where configured); <paramref name="fuse"/> as in <see cref="BboxForward"/>.
    /// </summary>
    public TrainOutput BboxTrain(Tensor[] x, List<SamplingResult> sampling, List<Tensor?> negLabelWeights, Tensor[]? auxiliary, double auxLossWeight,
        Func<Tensor, Tensor, Tensor>? fuse = null)
    {
        if (TrainCfg is null) throw new InvalidOperationException("training a RoI head needs train_cfg (assigner, sampler).");
        var losses = new LossDict();
        var rois = BoxTools.Bbox2Roi(sampling.ConvertAll(s => s.Bboxes));
        var (cls, reg, _) = BboxForward(x, rois, fuse);
        var targets = WithNegLabelWeights(BboxHead!.GetTargets(sampling, TrainCfg), sampling, negLabelWeights);
        var isr = _primeSampleAttention ? TrainCfg.Get<ConfigDict?>("isr", null) : null;
        if (isr is not null)
        {
            var t = PisaLoss.IsrP(cls, reg, new PisaTargets(targets.Labels, targets.LabelWeights, targets.BboxTargets, targets.BboxWeights), rois,
                sampling.ConvertAll(s => s.PosAssignedGtInds), BboxHead.LossCls, BboxHead.BboxCoder, isr.Get("k", 2.0), isr.Get("bias", 0.0), BboxHead.NumClasses);
            targets = new BBoxTargets(t.Labels, t.LabelWeights, t.BboxTargets, t.BboxWeights);
        }
        foreach (var (k, v) in BboxHead.Loss(cls, reg, rois, targets).Items) losses.Add(k, v);
        if ((_primeSampleAttention ? TrainCfg.Get<ConfigDict?>("carl", null) : null) is { } carl)
        {
            losses.Add("loss_carl", PisaLoss.CarlLoss(cls, targets.Labels, reg, targets.BboxTargets, BboxHead.LossBbox, carl.Get("k", 1.0),
                carl.Get("bias", 0.2), numClass: BboxHead.NumClasses));
        }
        if (auxiliary is not null && auxLossWeight > 0)
        {
            foreach (var (k, v) in ConsistentSupervision.Losses(auxiliary, rois, BboxRoiExtractor!, BboxHead, targets, auxLossWeight).Items)
                losses.Add(k, v);
        }
        return new TrainOutput(losses, sampling, rois, cls, reg, targets);
    }

    /// <summary>
    /// <c>_mask_forward_train</c>: the mask loss of the positives. <paramref name="maskForward"/> gives the mask logits
    /// of a batch of RoIs (HTC's information flow); the stage's own mask features and head when null.
    /// </summary>
    public MaskTrainOutput MaskTrain(Tensor[] x, List<SamplingResult> sampling, IReadOnlyList<IInstanceMasks>? gtMasks, Func<Tensor, Tensor>? maskForward = null)
    {
        if (MaskHead is null || TrainCfg is null) throw new InvalidOperationException("training a mask branch needs mask_head and train_cfg.");
        if (gtMasks is null) throw new ArgumentException("gt_masks are required to train a mask head.");
        var posRois = BoxTools.Bbox2Roi(sampling.ConvertAll(s => s.PosBboxes));
        var maskFeats = maskForward is null ? MaskFeats(x, posRois) : null;
        var maskPred = maskForward is null ? MaskHead.Forward(maskFeats!) : maskForward(posRois);
        var maskTargets = MaskHead.GetTargets(sampling, gtMasks, TrainCfg);
        var posLabels = cat(sampling.ConvertAll(s => s.PosGtLabels!));
        return new MaskTrainOutput(MaskHead.Loss(maskPred, maskTargets, posLabels), maskFeats, maskPred, maskTargets, posLabels);
    }

    /// <summary>
    /// The negatives' label weights a scoring sampler (ISR-N) chose, put in place of the ones (each image's RoIs are its
    /// positives, then its negatives), as <c>PISARoIHead._bbox_forward_train</c> does.
    /// </summary>
    private static BBoxTargets WithNegLabelWeights(BBoxTargets targets, List<SamplingResult> sampling, List<Tensor?> negLabelWeights)
    {
        if (negLabelWeights.All(w => w is null)) return targets;
        var labelWeights = targets.LabelWeights.clone();
        long at = 0;
        for (int i = 0; i < sampling.Count; i++)
        {
            long numPos = sampling[i].PosInds.numel(), numNeg = sampling[i].NegInds.numel();
            if (negLabelWeights[i] is { } w) labelWeights[(int)(at + numPos)..(int)(at + numPos + numNeg)] = w;
            at += numPos + numNeg;
        }
        return targets with { LabelWeights = labelWeights };
    }

    /// <summary>
    /// <c>simple_test_mask</c>: the masks of the kept detections (boxes scaled back to the input image when the
    /// detections were rescaled), as RLE in original-image coordinates; <paramref name="maskProbs"/> gives the sigmoid
    /// masks of a batch of RoIs (one stage's, or the cascade's mean over stages).
    /// </summary>
    public static List<Rle[]> TestMasks(FCNMaskHead head, IReadOnlyList<Tensor> dets, IReadOnlyList<Tensor> labels, IReadOnlyList<ImgMeta> imgMetas,
        bool rescale, double maskThrBinary, Func<Tensor, Tensor> maskProbs)
    {
        var masks = new List<Rle[]>(imgMetas.Count);
        var boxes = new List<Tensor>(imgMetas.Count);
        bool any = false;
        for (int i = 0; i < imgMetas.Count; i++)
        {
            var b = dets[i][.., 0..4];
            if (rescale) b = b * tensor(imgMetas[i].ScaleFactor);
            boxes.Add(b);
            any |= b.shape[0] > 0;
        }
        if (!any)
        {
            foreach (var _ in imgMetas) masks.Add([]);
            return masks;
        }
        var probs = RoIHeadBase.Split(maskProbs(BoxTools.Bbox2Roi(boxes)), boxes.ConvertAll(b => b.shape[0]));
        for (int i = 0; i < imgMetas.Count; i++)
            masks.Add(boxes[i].shape[0] == 0 ? [] : head.GetSegMasks(probs[i], boxes[i], labels[i], maskThrBinary, imgMetas[i], rescale));
        return masks;
    }
}

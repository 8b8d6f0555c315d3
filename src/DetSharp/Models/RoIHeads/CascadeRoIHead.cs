using DetSharp.Config;
using DetSharp.Engine;
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
    private readonly List<RoIStage> _stages = [];

    public CascadeRoIHead(int numStages, double[] stageLossWeights, [InheritedArguments] RoIHeadArguments args)
        : base(nameof(CascadeRoIHead), args)
    {
        if (stageLossWeights.Length != numStages)
            throw new DetSharpException($"CascadeRoIHead: stage_loss_weights has {stageLossWeights.Length} entries for {numStages} stages.");
        NumStages = numStages;
        StageLossWeights = stageLossWeights;
        var bboxExtractors = new List<SingleRoIExtractor>();
        var bboxHeads = new List<ConvFCBBoxHead>();
        var maskExtractors = new List<SingleRoIExtractor>();
        var maskHeads = new List<FCNMaskHead>();
        if (args.BboxHead is not null)
        {
            foreach (var c in PerStage(args.BboxRoiExtractor, "bbox_roi_extractor")) bboxExtractors.Add(Builders.Model<SingleRoIExtractor>(c));
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
                foreach (var c in PerStage(args.MaskRoiExtractor, "mask_roi_extractor")) maskExtractors.Add(Builders.Model<SingleRoIExtractor>(c));
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
                    throw new DetSharpException($"CascadeRoIHead: {key} has {list.Count} entries for {NumStages} stages.");
                return list.Select(v => v as ConfigDict ?? throw new DetSharpException($"CascadeRoIHead: every {key} entry must be a dict.")).ToList();
            default:
                throw new DetSharpException($"CascadeRoIHead: {key} must be a dict or a list of dicts.");
        }
    }

    public int NumStages { get; }

    public double[] StageLossWeights { get; }

    public override bool WithMask => _stages[0].MaskHead is not null;

    public override int NumClasses => _stages[^1].BboxHead?.NumClasses ?? 0;

    public IReadOnlyList<ConvFCBBoxHead> BboxHeads => _stages.Where(s => s.BboxHead is not null).Select(s => s.BboxHead!).ToList();

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
            foreach (var (k, v) in output.Losses.Items)
                losses.Add($"s{i}.{k}", k.Contains("loss", StringComparison.Ordinal) ? v.Select(t => t * lw).ToArray() : v);
            if (i < NumStages - 1)
            {
                using var noGrad = no_grad();
                if (output.ClsScore.numel() == 0) break;
                var head = stage.BboxHead!;
                var roiLabels = where(output.Targets.Labels == head.NumClasses, head.RefinementScores(output.ClsScore)[.., ..^1].argmax(1), output.Targets.Labels);
                proposalList = head.RefineBboxes(output.Rois, roiLabels, output.BboxPred, output.Sampling.ConvertAll(s => s.PosIsGt), imgMetas);
            }
        }
        return losses;
    }

    /// <summary>
    /// Test: stages run in turn on refined RoIs; the final score is the softmax of the stages' mean logits, boxes from
    /// the last stage; masks are the mean of all stages' sigmoid masks.
    /// </summary>
    public override List<DetectionResult> SimpleTest(Tensor[] x, IReadOnlyList<Tensor> proposals, IReadOnlyList<ImgMeta> imgMetas, bool rescale)
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
            ? RoIStage.TestMasks(_stages[^1].MaskHead!, dets, labels, imgMetas, rescale, cfg.Get("mask_thr_binary", 0.5), MeanMaskProbs)
            : null;
        var results = new List<DetectionResult>(numImgs);
        for (int j = 0; j < numImgs; j++)
            results.Add(DetectionResult.FromTensors(dets[j], labels[j], masks?[j], NumClasses));
        return results;

        Tensor MeanMaskProbs(Tensor maskRois)
        {
            Tensor? sum = null;
            for (int i = 0; i < NumStages; i++)
            {
                var p = MaskForward(i, x, maskRois).sigmoid();
                sum = sum is null ? p : sum + p;
            }
            return sum! / (float)NumStages;
        }
    }
}

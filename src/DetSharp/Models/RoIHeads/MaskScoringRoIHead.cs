using DetSharp.Config;
using DetSharp.Engine;
using DetSharp.Models.Common;
using DetSharp.Models.Detectors;
using DetSharp.Registry;
using DetSharp.Structures;
using static TorchSharp.torch;

namespace DetSharp.Models.RoIHeads;

/// <summary>
/// MMDetection's <c>MaskScoringRoIHead</c> (Mask Scoring R-CNN): a <see cref="StandardRoIHead"/> with a
/// <see cref="MaskIoUHead"/> (<c>mask_iou_head</c>) on the mask branch. Training adds <c>loss_mask_iou</c> on the
/// positives (the IoU of each predicted mask of its GT class with its GT instance); test gives every detection a mask
/// score, its box score × the predicted IoU of its class (<see cref="DetectionResult.MaskScores"/>).
/// </summary>
[Register(Registries.ModelsName, "MaskScoringRoIHead")]
public sealed class MaskScoringRoIHead : StandardRoIHead
{
    public MaskScoringRoIHead(ConfigDict maskIouHead, [InheritedArguments] RoIHeadArguments args)
        : base(nameof(MaskScoringRoIHead), args, primeSampleAttention: false)
    {
        if (Stage.MaskHead is null) throw new DetSharpException("MaskScoringRoIHead: mask_head is required with mask_iou_head.");
        MaskIouHead = Builders.Model<MaskIoUHead>(maskIouHead);
        register_module("mask_iou_head", MaskIouHead);
    }

    public MaskIoUHead MaskIouHead { get; }

    public override LossDict ForwardTrain(Tensor[] x, IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor> proposals,
        IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor> gtLabels, IReadOnlyList<Tensor?>? gtBboxesIgnore, IReadOnlyList<IInstanceMasks>? gtMasks,
        Tensor[]? auxiliary = null)
    {
        var output = Stage.ForwardTrain(x, imgMetas, proposals, gtBboxes, gtLabels, gtBboxesIgnore, gtMasks, auxiliary, AuxLossWeight);
        var losses = output.Losses;
        var mask = output.Mask!;
        var rows = arange(mask.PosLabels.shape[0], device: mask.PosLabels.device);
        var posMaskPred = mask.MaskPred[rows, mask.PosLabels];
        var iouPred = MaskIouHead.Forward(mask.MaskFeats!, posMaskPred)[rows, mask.PosLabels];
        var iouTargets = MaskIoUHead.GetTargets(output.Sampling, gtMasks!, posMaskPred, mask.MaskTargets, Stage.TrainCfg!);
        losses.Add("loss_mask_iou", MaskIouHead.Loss(iouPred, iouTargets));
        return losses;
    }

    public override List<DetectionResult> SimpleTest(Tensor[] x, IReadOnlyList<Tensor> proposals, IReadOnlyList<ImgMeta> imgMetas, bool rescale)
    {
        var cfg = RequireTestCfg();
        using var scope = NewDisposeScope();
        var (dets, labels) = SimpleTestBboxes(x, proposals, imgMetas, rescale, cfg);
        Tensor? iouPred = null;
        var masks = RoIStage.TestMasks(Stage.MaskHead!, dets, labels, imgMetas, rescale, cfg.Get("mask_thr_binary", 0.5), rois =>
        {
            var feats = Stage.MaskFeats(x, rois);
            var pred = Stage.MaskHead!.Forward(feats);
            var allLabels = cat(labels.ToList());
            var rows = arange(allLabels.shape[0], device: allLabels.device);
            iouPred = MaskIouHead.Forward(feats, pred[rows, allLabels]);
            return pred.sigmoid();
        });
        var iouPerImage = iouPred is null ? null : Split(iouPred, dets.ConvertAll(d => d.shape[0]));
        var results = new List<DetectionResult>(imgMetas.Count);
        for (int i = 0; i < imgMetas.Count; i++)
        {
            long n = dets[i].shape[0];
            // mask score = box score × the predicted IoU of the detection's class
            var maskScores = n == 0 || iouPerImage is null
                ? zeros(0)
                : iouPerImage[i][arange(n, device: dets[i].device), labels[i]] * dets[i][.., 4];
            results.Add(DetectionResult.FromTensors(dets[i], labels[i], masks[i], NumClasses, maskScores));
        }
        return results;
    }
}

using DetSharp.Engine;
using DetSharp.Models.Common;
using static TorchSharp.torch;

namespace DetSharp.Models.RoIHeads;

/// <summary>
/// AugFPN's Consistent Supervision (training only): every sampled RoI is pooled from each raw lateral map M_l
/// (with level l's stride) and classified/regressed by the bbox head; the per-level losses against the same targets,
/// times <c>weight</c> (α = 0.25), are summed into <c>loss_cls_aux</c> and <c>loss_bbox_aux</c>. DetSharp shares
/// the main bbox head's weights for this (no extra parameters, so checkpoints keep MMDetection's layout).
/// </summary>
public static class ConsistentSupervision
{
    public static LossDict Losses(Tensor[] laterals, Tensor rois, BaseRoIExtractor extractor, ConvFCBBoxHead head, BBoxTargets targets, double weight)
    {
        Tensor? cls = null, box = null;
        int levels = Math.Min(laterals.Length, extractor.NumInputs);
        for (int l = 0; l < levels; l++)
        {
            var feats = extractor.ForwardLevel(laterals[l], rois, l);
            var (c, r) = head.Forward(feats);
            var ld = head.Loss(c, r, rois, targets).Reduced();
            var lc = ld["loss_cls"] * weight;
            var lb = ld["loss_bbox"] * weight;
            cls = cls is null ? lc : cls + lc;
            box = box is null ? lb : box + lb;
        }
        var losses = new LossDict();
        if (cls is not null)
        {
            losses.Add("loss_cls_aux", cls);
            losses.Add("loss_bbox_aux", box!);
        }
        return losses;
    }
}

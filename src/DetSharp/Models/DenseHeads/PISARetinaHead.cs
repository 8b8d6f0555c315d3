using DetSharp.Config;
using DetSharp.Engine;
using DetSharp.Models.Losses;
using DetSharp.Registry;
using static TorchSharp.torch;

namespace DetSharp.Models.DenseHeads;

/// <summary>
/// MMDetection's <c>PISARetinaHead</c> (Prime Sample Attention): RetinaNet's layers and targets, with the losses taken
/// once over all levels and images, and two changes set in <c>train_cfg</c>: <c>isr=dict(k, bias)</c> reweights the
/// positives' classification by their IoU hierarchical local rank (<see cref="PisaLoss.IsrP"/>), and
/// <c>carl=dict(k, bias)</c> adds <c>loss_carl</c>, the regression loss weighted by the classification score
/// (<see cref="PisaLoss.CarlLoss"/>, averaged over num_total_pos).
/// </summary>
[Register(Registries.ModelsName, "PISARetinaHead")]
public sealed class PISARetinaHead([InheritedArguments] AnchorHeadArguments args, int stackedConvs = 4, ConfigDict? convCfg = null, ConfigDict? normCfg = null)
    : RetinaHead(nameof(PISARetinaHead), args, stackedConvs, convCfg, normCfg)
{
    public override LossDict Loss(DenseHeadOutputs outs, IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor>? gtLabels,
        IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor?>? gtBboxesIgnore = null)
    {
        var (clsScores, bboxPreds, targets, batch) = ReweightedTargets(outs, gtBboxes, gtLabels, imgMetas, gtBboxesIgnore);
        double numTotalSamples = Sampling ? batch.NumTotalPos + batch.NumTotalNeg : batch.NumTotalPos;
        var losses = new LossDict();
        losses.Add("loss_cls", LossCls.Forward(clsScores, targets.Labels, targets.LabelWeights, numTotalSamples));
        losses.Add("loss_bbox", LossBbox.Forward(bboxPreds, targets.BboxTargets, targets.BboxWeights, numTotalSamples));
        if (TrainCfg!.Get<ConfigDict?>("carl", null) is { } carl)
        {
            losses.Add("loss_carl", PisaLoss.CarlLoss(clsScores, targets.Labels, bboxPreds, targets.BboxTargets, LossBbox,
                carl.Get("k", 1.0), carl.Get("bias", 0.2), batch.NumTotalPos, sigmoid: true, numClass: NumClasses));
        }
        return losses;
    }

    /// <summary>The flattened targets after ISR-P (when <c>train_cfg.isr</c> is set), image-major over all levels.</summary>
    internal PisaTargets IsrLabelWeights(DenseHeadOutputs outs, IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor>? gtLabels,
        IReadOnlyList<ImgMeta> imgMetas) => ReweightedTargets(outs, gtBboxes, gtLabels, imgMetas, null).Targets;

    private (Tensor ClsScores, Tensor BboxPreds, PisaTargets Targets, BatchTargets Batch) ReweightedTargets(DenseHeadOutputs outs,
        IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor>? gtLabels, IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor?>? gtBboxesIgnore)
    {
        var batch = GetTargets(outs.ClsScores, gtBboxes, gtLabels, imgMetas, gtBboxesIgnore);
        long numImgs = imgMetas.Count;
        var clsScores = cat(outs.ClsScores.Select(c => c.permute(0, 2, 3, 1).reshape(numImgs, -1, ClsOutChannels)).ToArray(), 1).reshape(-1, ClsOutChannels);
        var bboxPreds = cat(outs.BboxPreds.Select(b => b.permute(0, 2, 3, 1).reshape(numImgs, -1, 4)).ToArray(), 1).view(-1, 4);
        // image-major, as the per-level targets concatenated along the anchors and flattened
        var targets = new PisaTargets(cat(batch.Images.ConvertAll(t => t.Labels)), cat(batch.Images.ConvertAll(t => t.LabelWeights)),
            cat(batch.Images.ConvertAll(t => t.BboxTargets)), cat(batch.Images.ConvertAll(t => t.BboxWeights)));
        if (TrainCfg!.Get<ConfigDict?>("isr", null) is { } isr)
        {
            var anchors = cat(batch.Anchors, 0).repeat(numImgs, 1);
            targets = PisaLoss.IsrP(clsScores, bboxPreds, targets, anchors, batch.Images.ConvertAll(t => t.Sampling.PosAssignedGtInds),
                LossCls, BboxCoder, isr.Get("k", 2.0), isr.Get("bias", 0.0), NumClasses);
        }
        return (clsScores, bboxPreds, targets, batch);
    }
}

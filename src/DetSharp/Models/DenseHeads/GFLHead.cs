using DetSharp.Config;
using DetSharp.Engine;
using DetSharp.Models.Common;
using DetSharp.Models.Losses;
using DetSharp.Models.TaskModules;
using DetSharp.Ops;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.DenseHeads;

/// <summary>
/// MMDetection's <c>GFLHead</c> (Generalized Focal Loss, Li et al. 2020): one anchor per position (its centre is the
/// point the distances are measured from), GN towers <c>cls_convs</c> / <c>reg_convs</c>, a 3×3 <c>gfl_cls</c> (C) and a
/// 3×3 <c>gfl_reg</c> (4·(reg_max + 1) bin logits times a learnable per-level <c>scales</c> factor) read through
/// <see cref="Integral"/>. Anchors are assigned by <c>train_cfg.assigner</c> (ATSSAssigner) without sampling. Losses per
/// level, in stride units: QualityFocalLoss whose positive target is the IoU of the predicted box with its GT; the box
/// loss (GIoU) of the positives and the DistributionFocalLoss of their bins (targets clamped to reg_max − 0.1), both
/// weighted by the positive's best predicted class score and divided by that weight's sum over all levels.
/// </summary>
[Register(Registries.ModelsName, "GFLHead")]
public sealed class GFLHead : AnchorHead
{
    private readonly ConvTower _clsConvs, _regConvs;
    private readonly TorchSharp.Modules.Conv2d _gflCls, _gflReg;
    private readonly Scale[] _scales;
    private readonly QualityFocalLoss _qfl;

    public GFLHead([InheritedArguments] AnchorHeadArguments args, int stackedConvs = 4, ConfigDict? convCfg = null,
        ConfigOptional<ConfigDict> normCfg = default, ConfigDict? lossDfl = null, int regMax = 16)
        : base(nameof(GFLHead), args, args.NumClasses ?? throw new DetSharpException("GFLHead: num_classes is required."), null,
            defaultBboxCoder: new ConfigDict { ["type"] = "DistancePointBBoxCoder" }, sampling: false)
    {
        if (convCfg is not null) throw new DetSharpException("GFLHead: conv_cfg is not supported (only the default Conv2d).");
        if (NumBaseAnchors != 1)
            throw new DetSharpException($"GFLHead: the anchor_generator must give one anchor per position (anchor-free head), got {NumBaseAnchors}; use one ratio and scales_per_octave=1.");
        _qfl = LossCls as QualityFocalLoss
               ?? throw new DetSharpException($"GFLHead: loss_cls must be QualityFocalLoss (it is given (labels, IoU scores) as its target), got {LossCls.GetType().Name}.");
        if (BboxCoder is not DistancePointBBoxCoder)
            throw new DetSharpException($"GFLHead: bbox_coder must be DistancePointBBoxCoder (distances from the anchor centres), got {BboxCoder.GetType().Name}.");
        var norm = normCfg.Or(new ConfigDict { ["type"] = "GN", ["num_groups"] = 32L, ["requires_grad"] = true });
        StackedConvs = stackedConvs;
        RegMax = regMax;
        _clsConvs = new ConvTower(InChannels, FeatChannels, stackedConvs, norm).RegisterIn(register_module, "cls_convs");
        _regConvs = new ConvTower(InChannels, FeatChannels, stackedConvs, norm).RegisterIn(register_module, "reg_convs");
        _gflCls = nn.Conv2d(FeatChannels, ClsOutChannels, 3, padding: 1);
        _gflReg = nn.Conv2d(FeatChannels, 4 * (regMax + 1), 3, padding: 1);
        _scales = AnchorGenerator.Strides.Select(_ => new Scale(1.0)).ToArray();
        Integral = new Integral(regMax);
        register_module("gfl_cls", _gflCls);
        register_module("gfl_reg", _gflReg);
        register_module("scales", nn.ModuleList(_scales));
        register_module("integral", Integral);
        ModuleTools.NormalInit(_gflCls, 0, 0.01, bias: -Math.Log((1 - 0.01) / 0.01));
        ModuleTools.NormalInit(_gflReg, 0, 0.01);
        LossDfl = Builders.Loss(lossDfl ?? new ConfigDict { ["type"] = "DistributionFocalLoss", ["loss_weight"] = 0.25 });
    }

    public int StackedConvs { get; }

    public int RegMax { get; }

    public Integral Integral { get; }

    public LossBase LossDfl { get; }

    public override DenseHeadOutputs Forward(IReadOnlyList<Tensor> feats)
    {
        var cls = new Tensor[feats.Count];
        var reg = new Tensor[feats.Count];
        for (int l = 0; l < feats.Count; l++)
        {
            using var scope = NewDisposeScope();
            cls[l] = _gflCls.forward(_clsConvs.Forward(feats[l])).MoveToOuterDisposeScope();
            reg[l] = _scales[l].forward(_gflReg.forward(_regConvs.Forward(feats[l]))).to_type(ScalarType.Float32).MoveToOuterDisposeScope();
        }
        return new DenseHeadOutputs(cls, reg);
    }

    /// <summary>GFL regresses the GT boxes themselves (scaled to stride units in the loss), whatever <c>reg_decoded_bbox</c> says.</summary>
    protected override Tensor PosBboxTargets(SamplingResult sampling) => sampling.PosGtBboxes;

    private static Tensor AnchorCenter(Tensor anchors) =>
        stack([(anchors[.., 2] + anchors[.., 0]) / 2, (anchors[.., 3] + anchors[.., 1]) / 2], -1);

    private int Stride(int level)
    {
        var (w, h) = AnchorGenerator.Strides[level];
        return w == h ? w : throw new DetSharpException($"GFLHead: level {level} has stride {w}×{h}; GFL needs square strides.");
    }

    public override LossDict Loss(DenseHeadOutputs outs, IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor>? gtLabels,
        IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor?>? gtBboxesIgnore = null)
    {
        var targets = GetTargets(outs.ClsScores, gtBboxes, gtLabels, imgMetas, gtBboxesIgnore);
        var anchors = targets.Anchors;
        var (labelsL, labelWeightsL, bboxTargetsL) = (targets.ToLevels(t => t.Labels), targets.ToLevels(t => t.LabelWeights), targets.ToLevels(t => t.BboxTargets));
        // One process: reduce_mean over ranks is the value itself.
        double numTotalSamples = Math.Max(targets.NumTotalPos, 1.0);
        int levels = outs.ClsScores.Length;
        var lossCls = new Tensor[levels];
        var lossBbox = new Tensor[levels];
        var lossDfl = new Tensor[levels];
        var weightSum = zeros(1, device: outs.ClsScores[0].device);
        for (int l = 0; l < levels; l++)
        {
            int stride = Stride(l);
            var levelAnchors = anchors[l].repeat(imgMetas.Count, 1);
            var clsScore = outs.ClsScores[l].permute(0, 2, 3, 1).reshape(-1, ClsOutChannels);
            var bboxPred = outs.BboxPreds[l].permute(0, 2, 3, 1).reshape(-1, 4 * (RegMax + 1));
            var bboxTargets = bboxTargetsL[l].reshape(-1, 4);
            var labels = labelsL[l].reshape(-1);
            var posInds = nonzero((labels >= 0) & (labels < NumClasses)).squeeze(1);
            var score = zeros(labels.shape[0], device: clsScore.device);
            if (posInds.numel() > 0)
            {
                var posPred = bboxPred[posInds];
                var posCenters = AnchorCenter(levelAnchors[posInds]) / stride;
                var weightTargets = clsScore.detach().sigmoid().max(1).values[posInds];
                var posDecodedPred = BboxCoder.Decode(posCenters, Integral.forward(posPred));
                var posDecodedTargets = bboxTargets[posInds] / stride;
                score[posInds] = BboxOverlaps.Compute(posDecodedPred.detach(), posDecodedTargets, isAligned: true);
                var targetCorners = DistancePointBBoxCoder.Encode(posCenters, posDecodedTargets, RegMax).reshape(-1);
                lossBbox[l] = LossBbox.Forward(posDecodedPred, posDecodedTargets, weightTargets, 1.0);
                lossDfl[l] = LossDfl.Forward(posPred.reshape(-1, RegMax + 1), targetCorners,
                    weightTargets.unsqueeze(1).expand(-1, 4).reshape(-1), 4.0);
                weightSum += weightTargets.sum();
            }
            else
            {
                lossBbox[l] = bboxPred.sum() * 0;
                lossDfl[l] = bboxPred.sum() * 0;
            }
            lossCls[l] = _qfl.Forward(clsScore, labels, score, labelWeightsL[l].reshape(-1), numTotalSamples);
        }
        double avgFactor = Math.Max(weightSum.item<float>(), 1.0);
        var losses = new LossDict();
        losses.Add("loss_cls", lossCls);
        losses.Add("loss_bbox", lossBbox.Select(x => x / avgFactor).ToArray());
        losses.Add("loss_dfl", lossDfl.Select(x => x / avgFactor).ToArray());
        return losses;
    }

    /// <summary>
    /// <c>_get_bboxes_single</c>'s decoding: the distances read through <see cref="Integral"/> and scaled by the stride,
    /// decoded from the kept anchors' centres and clipped.
    /// </summary>
    protected override Tensor DecodeKept(int level, Tensor priors, Tensor bboxPred, Tensor keep, ImgMeta imgMeta)
    {
        var distances = Integral.forward(bboxPred.permute(1, 2, 0)) * Stride(level);
        return BboxCoder.Decode(AnchorCenter(priors[keep]), distances[keep], imgMeta.ImgShape);
    }
}

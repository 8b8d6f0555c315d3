using DetSharp.Config;
using DetSharp.Engine;
using DetSharp.Models.Common;
using DetSharp.Models.Losses;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.DenseHeads;

/// <summary>
/// MMDetection's <c>ATSSHead</c> (ATSS, Zhang et al. 2020): FCOS's head on anchors. GN towers <c>cls_convs</c> and
/// <c>reg_convs</c> (<c>stacked_convs</c> ConvModules), then <c>pred_kernel_size</c> convs <c>atss_cls</c> (A·C),
/// <c>atss_reg</c> (A·4 deltas times a learnable per-level <c>scales</c> factor, no exp) and <c>atss_centerness</c>
/// (A, on the regression tower). Anchors are assigned by <c>train_cfg.assigner</c> (ATSSAssigner) without sampling.
/// Losses per level: classification over all anchors / #pos; the box loss (GIoU by default, on boxes decoded from the
/// anchors: <c>reg_decoded_bbox</c> defaults to True here) of the positives weighted by their centerness target, divided
/// by that target's sum over all levels; the centerness BCE / #pos. Test scores are multiplied by the sigmoid centerness.
/// All convs start N(0, 0.01), <c>atss_cls</c>'s bias at the focal prior p = 0.01.
/// </summary>
[Register(Registries.ModelsName, "ATSSHead")]
public sealed class ATSSHead : AnchorHead
{
    private readonly ConvTower _clsConvs, _regConvs;
    private readonly TorchSharp.Modules.Conv2d _atssCls, _atssReg, _atssCenterness;
    private readonly Scale[] _scales;

    public ATSSHead([InheritedArguments] AnchorHeadArguments args, int predKernelSize = 3, int stackedConvs = 4, ConfigDict? convCfg = null,
        ConfigOptional<ConfigDict> normCfg = default, ConfigDict? lossCenterness = null)
        : base(nameof(ATSSHead), args, args.NumClasses ?? throw new DetSharpException("ATSSHead: num_classes is required."), null,
            defaultRegDecodedBbox: true, sampling: false)
    {
        if (convCfg is not null) throw new DetSharpException("ATSSHead: conv_cfg is not supported (only the default Conv2d).");
        if (predKernelSize % 2 == 0) throw new DetSharpException($"ATSSHead: pred_kernel_size must be odd, got {predKernelSize}.");
        var norm = normCfg.Or(new ConfigDict { ["type"] = "GN", ["num_groups"] = 32L, ["requires_grad"] = true });
        StackedConvs = stackedConvs;
        _clsConvs = new ConvTower(InChannels, FeatChannels, stackedConvs, norm).RegisterIn(register_module, "cls_convs");
        _regConvs = new ConvTower(InChannels, FeatChannels, stackedConvs, norm).RegisterIn(register_module, "reg_convs");
        int pad = predKernelSize / 2;
        _atssCls = nn.Conv2d(FeatChannels, NumBaseAnchors * ClsOutChannels, predKernelSize, padding: pad);
        _atssReg = nn.Conv2d(FeatChannels, NumBaseAnchors * 4, predKernelSize, padding: pad);
        _atssCenterness = nn.Conv2d(FeatChannels, NumBaseAnchors, predKernelSize, padding: pad);
        _scales = AnchorGenerator.Strides.Select(_ => new Scale(1.0)).ToArray();
        register_module("atss_cls", _atssCls);
        register_module("atss_reg", _atssReg);
        register_module("atss_centerness", _atssCenterness);
        register_module("scales", nn.ModuleList(_scales));
        ModuleTools.NormalInit(_atssCls, 0, 0.01, bias: -Math.Log((1 - 0.01) / 0.01));
        ModuleTools.NormalInit(_atssReg, 0, 0.01);
        ModuleTools.NormalInit(_atssCenterness, 0, 0.01);
        LossCenterness = Builders.Loss(lossCenterness ?? new ConfigDict { ["type"] = "CrossEntropyLoss", ["use_sigmoid"] = true, ["loss_weight"] = 1.0 });
    }

    public int StackedConvs { get; }

    public LossBase LossCenterness { get; }

    public override DenseHeadOutputs Forward(IReadOnlyList<Tensor> feats)
    {
        var cls = new Tensor[feats.Count];
        var reg = new Tensor[feats.Count];
        var ctr = new Tensor[feats.Count];
        for (int l = 0; l < feats.Count; l++)
        {
            using var scope = NewDisposeScope();
            var clsFeat = _clsConvs.Forward(feats[l]);
            var regFeat = _regConvs.Forward(feats[l]);
            cls[l] = _atssCls.forward(clsFeat).MoveToOuterDisposeScope();
            // As the ATSS authors: the deltas are scaled, not exponentiated.
            reg[l] = _scales[l].forward(_atssReg.forward(regFeat)).to_type(ScalarType.Float32).MoveToOuterDisposeScope();
            ctr[l] = _atssCenterness.forward(regFeat).MoveToOuterDisposeScope();
        }
        return new DenseHeadOutputs(cls, reg, ctr);
    }

    public override LossDict Loss(DenseHeadOutputs outs, IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor>? gtLabels,
        IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor?>? gtBboxesIgnore = null)
    {
        var centernesses = outs.ScoreFactors ?? throw new ArgumentException("ATSSHead.Loss needs the centerness outputs.");
        var targets = GetTargets(outs.ClsScores, gtBboxes, gtLabels, imgMetas, gtBboxesIgnore);
        var anchors = targets.Anchors;
        var (labelsL, labelWeightsL, bboxTargetsL) = (targets.ToLevels(t => t.Labels), targets.ToLevels(t => t.LabelWeights), targets.ToLevels(t => t.BboxTargets));
        // One process: reduce_mean over ranks is the value itself.
        double numTotalSamples = Math.Max(targets.NumTotalPos, 1.0);
        int levels = outs.ClsScores.Length;
        var lossCls = new Tensor[levels];
        var lossBbox = new Tensor[levels];
        var lossCenterness = new Tensor[levels];
        var centernessSum = zeros(1, device: outs.ClsScores[0].device);
        for (int l = 0; l < levels; l++)
        {
            var levelAnchors = anchors[l].repeat(imgMetas.Count, 1);
            var clsScore = outs.ClsScores[l].permute(0, 2, 3, 1).reshape(-1, ClsOutChannels);
            var bboxPred = outs.BboxPreds[l].permute(0, 2, 3, 1).reshape(-1, 4);
            var centerness = centernesses[l].permute(0, 2, 3, 1).reshape(-1);
            var bboxTargets = bboxTargetsL[l].reshape(-1, 4);
            var labels = labelsL[l].reshape(-1);
            lossCls[l] = LossCls.Forward(clsScore, labels, labelWeightsL[l].reshape(-1), numTotalSamples);
            var posInds = nonzero((labels >= 0) & (labels < NumClasses)).squeeze(1);
            if (posInds.numel() > 0)
            {
                var posAnchors = levelAnchors[posInds];
                var posTargets = bboxTargets[posInds];
                var centernessTargets = CenternessTarget(posAnchors, posTargets);
                var decoded = BboxCoder.Decode(posAnchors, bboxPred[posInds]);
                lossBbox[l] = LossBbox.Forward(decoded, posTargets, centernessTargets, 1.0);
                lossCenterness[l] = LossCenterness.Forward(centerness[posInds], centernessTargets, null, numTotalSamples);
                centernessSum += centernessTargets.sum();
            }
            else
            {
                lossBbox[l] = bboxPred.sum() * 0;
                lossCenterness[l] = centerness.sum() * 0;
            }
        }
        double bboxAvgFactor = Math.Max(centernessSum.item<float>(), 1.0);
        var losses = new LossDict();
        losses.Add("loss_cls", lossCls);
        losses.Add("loss_bbox", lossBbox.Select(x => x / bboxAvgFactor).ToArray());
        losses.Add("loss_centerness", lossCenterness);
        return losses;
    }

    /// <summary>
    /// <c>centerness_target</c>: sqrt(min(l, r)/max(l, r) · min(t, b)/max(t, b)) of the anchor centres' distances to the
    /// sides of their GT boxes (positives only: ATSS positives have their centre inside the GT).
    /// </summary>
    public static Tensor CenternessTarget(Tensor anchors, Tensor gts)
    {
        var cx = (anchors[.., 2] + anchors[.., 0]) / 2;
        var cy = (anchors[.., 3] + anchors[.., 1]) / 2;
        var leftRight = stack([cx - gts[.., 0], gts[.., 2] - cx], 1);
        var topBottom = stack([cy - gts[.., 1], gts[.., 3] - cy], 1);
        var centerness = (leftRight.min(-1).values / leftRight.max(-1).values * (topBottom.min(-1).values / topBottom.max(-1).values)).sqrt();
        if (centerness.isnan().any().item<bool>())
            throw new DetSharpException("ATSSHead: a positive anchor's centre lies outside its GT box (NaN centerness target); the assigner must only take anchors centred inside their GT.");
        return centerness;
    }
}

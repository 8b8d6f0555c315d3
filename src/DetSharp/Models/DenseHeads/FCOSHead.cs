using DetSharp.Config;
using DetSharp.Engine;
using DetSharp.Models.Common;
using DetSharp.Models.Losses;
using DetSharp.Models.Onnx;
using DetSharp.Models.TaskModules;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.DenseHeads;

/// <summary>
/// MMDetection's <c>FCOSHead</c> (FCOS, Tian et al. 2019): an <see cref="AnchorFreeHead"/> (GN towers by default) with a
/// 3×3 <c>conv_centerness</c> on the classification tower (the regression tower with <c>centerness_on_reg</c>) and a
/// learnable <c>scales</c> factor per level; the regression is exp(scale·x) distances, or with <c>norm_on_bbox</c>
/// relu(scale·x) in stride units (multiplied back by the stride at test time).
/// Targets (<c>get_targets</c>): a point is positive for the smallest-area GT that contains it (within
/// <c>center_sample_radius</c>·stride of the GT centre with <c>center_sampling</c>) and whose largest distance lies in
/// the level's <c>regress_ranges</c>. Losses: focal over all points / #pos; IoU of the decoded positives weighted by
/// their centerness target / its sum; centerness BCE / #pos. Test scores are multiplied by the sigmoid centerness.
/// </summary>
[Register(Registries.ModelsName, "FCOSHead")]
public sealed class FCOSHead : AnchorFreeHead
{
    private readonly TorchSharp.Modules.Conv2d _convCenterness;
    private readonly List<Scale> _scales = [];
    private readonly FCOSTargets _targets;

    public FCOSHead([InheritedArguments] AnchorFreeHeadArguments args, object[]? regressRanges = null, bool centerSampling = false,
        double centerSampleRadius = 1.5, bool normOnBbox = false, bool centernessOnReg = false, ConfigDict? lossCenterness = null)
        : base(nameof(FCOSHead), args, DefaultLossCls(), new ConfigDict { ["type"] = "IoULoss", ["loss_weight"] = 1.0 },
            new ConfigDict { ["type"] = "GN", ["num_groups"] = 32L, ["requires_grad"] = true })
    {
        _targets = new FCOSTargets(nameof(FCOSHead), regressRanges, Strides, centerSampling, centerSampleRadius, NumClasses);
        NormOnBbox = normOnBbox;
        CenternessOnReg = centernessOnReg;
        LossCenterness = Builders.Loss(lossCenterness ?? new ConfigDict { ["type"] = "CrossEntropyLoss", ["use_sigmoid"] = true, ["loss_weight"] = 1.0 });
        _convCenterness = nn.Conv2d(FeatChannels, 1, 3, padding: 1);
        foreach (var _ in Strides) _scales.Add(new Scale(1.0));
        register_module("conv_centerness", _convCenterness);
        register_module("scales", nn.ModuleList(_scales.ToArray()));
        ModuleTools.NormalInit(_convCenterness, 0, 0.01);
    }

    private static ConfigDict DefaultLossCls() => new()
    {
        ["type"] = "FocalLoss", ["use_sigmoid"] = true, ["gamma"] = 2.0, ["alpha"] = 0.25, ["loss_weight"] = 1.0,
    };

    public bool CenterSampling => _targets.CenterSampling;

    public double CenterSampleRadius => _targets.CenterSampleRadius;

    public bool NormOnBbox { get; }

    public bool CenternessOnReg { get; }

    public LossBase LossCenterness { get; }

    public override DenseHeadOutputs Forward(IReadOnlyList<Tensor> feats)
    {
        var cls = new Tensor[feats.Count];
        var reg = new Tensor[feats.Count];
        var ctr = new Tensor[feats.Count];
        for (int l = 0; l < feats.Count; l++)
        {
            using var scope = NewDisposeScope();
            var (c, r, clsFeat, regFeat) = ForwardTowers(feats[l]);
            var centerness = _convCenterness.forward(CenternessOnReg ? regFeat : clsFeat);
            r = _scales[l].forward(r).to_type(ScalarType.Float32);
            if (NormOnBbox)
            {
                r = r.clamp_min(0);
                if (!training) r = r * Strides[l];
            }
            else r = r.exp();
            cls[l] = c.MoveToOuterDisposeScope();
            reg[l] = r.MoveToOuterDisposeScope();
            ctr[l] = centerness.MoveToOuterDisposeScope();
        }
        return new DenseHeadOutputs(cls, reg, ctr);
    }

    protected override (IReadOnlyList<string> ClsScores, IReadOnlyList<string> BboxPreds, IReadOnlyList<string>? ScoreFactors) ExportForward(
        OnnxExportContext ctx, IReadOnlyList<string> feats)
    {
        ctx.RequireExportOf(this, nameof(Forward), nameof(ExportForward));
        var (cls, reg, ctr) = (new List<string>(), new List<string>(), new List<string>());
        for (int l = 0; l < feats.Count; l++)
        {
            var (c, r, clsFeat, regFeat) = ExportTowers(ctx, feats[l]);
            ctr.Add(ctx.Forward(_convCenterness, CenternessOnReg ? regFeat : clsFeat));
            r = ctx.Forward(_scales[l], r);
            string name = ctx.ValueName(this, $"level{l}.distances");
            // Eval mode: norm_on_bbox's distances are in strides.
            r = NormOnBbox
                ? ctx.Mul(ctx.Relu(r, name + ".clamped"), ctx.Scalar(name + ".stride", Strides[l]), name)
                : ctx.Graph.Node("Exp", [r], name);
            cls.Add(c);
            reg.Add(r);
        }
        return (cls, reg, ctr);
    }

    public override LossDict Loss(DenseHeadOutputs outs, IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor>? gtLabels,
        IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor?>? gtBboxesIgnore = null)
    {
        if (gtLabels is null) throw new ArgumentException("FCOSHead needs gt_labels.");
        var centernesses = outs.ScoreFactors ?? throw new ArgumentException("FCOSHead.Loss needs the centerness outputs.");
        var points = PriorGenerator.GridPriors(FeatmapSizes(outs.ClsScores), outs.ClsScores[0].device);
        var (labels, bboxTargets) = GetTargets(points, gtBboxes, gtLabels);
        int numImgs = (int)outs.ClsScores[0].shape[0];
        var flatCls = cat(outs.ClsScores.Select(c => c.permute(0, 2, 3, 1).reshape(-1, ClsOutChannels)).ToList());
        var flatReg = cat(outs.BboxPreds.Select(b => b.permute(0, 2, 3, 1).reshape(-1, 4)).ToList());
        var flatCtr = cat(centernesses.Select(c => c.permute(0, 2, 3, 1).reshape(-1)).ToList());
        var flatLabels = cat(labels);
        var flatTargets = cat(bboxTargets);
        var flatPoints = cat(points.Select(p => p.repeat(numImgs, 1)).ToList());
        var posInds = nonzero((flatLabels >= 0) & (flatLabels < NumClasses)).reshape(-1);
        // One process: reduce_mean over ranks is the value itself.
        double numPos = Math.Max(posInds.numel(), 1.0);
        var losses = new LossDict();
        losses.Add("loss_cls", LossCls.Forward(flatCls, flatLabels, null, numPos));
        var posReg = flatReg[posInds];
        var posCtr = flatCtr[posInds];
        var posTargets = flatTargets[posInds];
        var ctrTargets = CenternessTarget(posTargets);
        double ctrDenorm = Math.Max(ctrTargets.sum().item<float>(), 1e-6);
        if (posInds.numel() > 0)
        {
            var posPoints = flatPoints[posInds];
            var decodedPred = BboxCoder.Decode(posPoints, posReg);
            var decodedTarget = BboxCoder.Decode(posPoints, posTargets);
            losses.Add("loss_bbox", LossBbox.Forward(decodedPred, decodedTarget, ctrTargets, ctrDenorm));
            losses.Add("loss_centerness", LossCenterness.Forward(posCtr, ctrTargets, null, numPos));
        }
        else
        {
            losses.Add("loss_bbox", posReg.sum());
            losses.Add("loss_centerness", posCtr.sum());
        }
        foreach (var p in points) p.Dispose();
        return losses;
    }

    /// <summary>
    /// <c>get_targets</c>: per level, the labels (background = num_classes) and (left, top, right, bottom) distance
    /// targets of every point of every image, images concatenated; divided by the stride with <c>norm_on_bbox</c>.
    /// </summary>
    public (List<Tensor> Labels, List<Tensor> BboxTargets) GetTargets(IReadOnlyList<Tensor> points, IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor> gtLabels) =>
        _targets.Get(points, gtBboxes, gtLabels, NormOnBbox);

    /// <summary><c>centerness_target</c>: sqrt(min(l, r)/max(l, r) · min(t, b)/max(t, b)) of the positive distance targets.</summary>
    public static Tensor CenternessTarget(Tensor posBboxTargets)
    {
        if (posBboxTargets.shape[0] == 0) return posBboxTargets[.., 0];
        var lr = posBboxTargets[.., TensorIndex.Tensor(tensor(new long[] { 0, 2 }, device: posBboxTargets.device))];
        var tb = posBboxTargets[.., TensorIndex.Tensor(tensor(new long[] { 1, 3 }, device: posBboxTargets.device))];
        var c = lr.min(-1).values / lr.max(-1).values * (tb.min(-1).values / tb.max(-1).values);
        return c.sqrt();
    }
}

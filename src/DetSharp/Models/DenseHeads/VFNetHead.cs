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
/// <see cref="VFNetHead"/>'s outputs: <see cref="DenseHeadOutputs.BboxPreds"/> are the refined distances (what
/// MMDetection's head returns at test time and decodes), <see cref="InitialBboxPreds"/> the first ones, from which the
/// star offsets were computed (MMDetection's second training output, <c>bbox_preds</c>).
/// </summary>
public sealed record VFNetHeadOutputs(Tensor[] ClsScores, Tensor[] BboxPreds, Tensor[] InitialBboxPreds) : DenseHeadOutputs(ClsScores, BboxPreds);

/// <summary>
/// MMDetection's <c>VFNetHead</c> (VarifocalNet, Zhang et al. 2021), an FCOS-like point head trained on ATSS targets.
/// Per level: GN towers <c>cls_convs</c> / <c>reg_convs</c> (<c>stacked_convs</c>, <c>dcn_on_last_conv</c>, bias 'auto');
/// <c>vfnet_reg_conv</c> and <c>vfnet_reg</c> give the first (left, top, right, bottom) distances
/// exp(<c>scales</c>·x) times the level's <c>reg_denom</c> (the upper end of its <c>regress_ranges</c>, the last level
/// twice the one before) or, with <c>bbox_norm_type='stride'</c>, its stride. From them the star-shaped offsets of a
/// 3×3 deformable conv (the nine taps on the box's corners, edge midpoints and centre, in feature-map units; the
/// gradient through them scaled by <c>gradient_mul</c>) drive <c>vfnet_reg_refine_dconv</c> → <c>vfnet_reg_refine</c>
/// (exp(<c>scales_refine</c>·x) factors of the detached first distances) and <c>vfnet_cls_dconv</c> →
/// <c>vfnet_cls</c>, the IoU-aware classification score.
/// Targets on the points (offset <c>anchor_generator.center_offset</c>): ATSS assignment of one square anchor per point
/// (<c>use_atss</c>, <see cref="AnchorHead"/>'s targets with the GT boxes as box targets) or FCOS's
/// (<see cref="FCOSTargets"/>). Losses: GIoU of the decoded first and refined boxes of the positives, each weighted by
/// its IoU with the GT and divided by that IoU's sum (<c>loss_bbox</c>, <c>loss_bbox_rf</c>); <c>loss_cls</c> the
/// <see cref="VarifocalLoss"/> against the refined boxes' IoU on the GT class (<c>use_vfl</c>; else
/// <c>loss_cls_fl</c> on the labels) / #positives. Test: the refined boxes, scored by the sigmoid of the IoU-aware
/// score (<see cref="BaseDenseHead.GetBboxes"/>).
/// </summary>
[Register(Registries.ModelsName, "VFNetHead")]
public sealed class VFNetHead : AnchorHead
{
    private const int DcnKernel = 3, DcnPad = 1;

    private readonly ConvTower _clsConvs, _regConvs;
    private readonly ConvModule _vfnetRegConv;
    private readonly TorchSharp.Modules.Conv2d _vfnetReg, _vfnetRegRefine, _vfnetCls;
    private readonly DeformConv2d _vfnetRegRefineDconv, _vfnetClsDconv;
    private readonly Scale[] _scales, _scalesRefine;
    private readonly double[] _regDenoms;
    private readonly FCOSTargets _fcosTargets;
    private readonly MlvlPointGenerator _pointGenerator;

    public VFNetHead([InheritedArguments] AnchorHeadArguments args, int stackedConvs = 4, int[]? strides = null, bool dcnOnLastConv = false,
        object? convBias = null, ConfigDict? convCfg = null, ConfigOptional<ConfigDict> normCfg = default, object[]? regressRanges = null,
        bool centerSampling = false, double centerSampleRadius = 1.5, bool syncNumPos = true, double gradientMul = 0.1,
        string bboxNormType = "reg_denom", ConfigDict? lossClsFl = null, bool useVfl = true, ConfigDict? lossBboxRefine = null, bool useAtss = true)
        : base(nameof(VFNetHead), WithDefaults(args, useVfl, lossClsFl), args.NumClasses ?? throw new DetSharpException("VFNetHead: num_classes is required."),
            DefaultAnchorGenerator(), sampling: false, defaultBboxCoder: new ConfigDict { ["type"] = "DistancePointBBoxCoder" }, defaultRegDecodedBbox: true)
    {
        if (bboxNormType is not ("reg_denom" or "stride"))
            throw new DetSharpException($"VFNetHead: bbox_norm_type must be 'reg_denom' or 'stride', got '{bboxNormType}'.");
        Strides = strides ?? [4, 8, 16, 32, 64];
        StackedConvs = stackedConvs;
        SyncNumPos = syncNumPos;
        GradientMul = gradientMul;
        BboxNormType = bboxNormType;
        UseVfl = useVfl;
        UseAtss = useAtss;
        _fcosTargets = new FCOSTargets(nameof(VFNetHead), regressRanges, Strides, centerSampling, centerSampleRadius, NumClasses);
        _regDenoms = _fcosTargets.RegressRanges.Select(r => r[1]).ToArray();
        // The last range is open (INF): normalise that level by twice the one before.
        if (_regDenoms.Length > 1) _regDenoms[^1] = _regDenoms[^2] * 2;
        LossBboxRefine = Builders.Loss(lossBboxRefine ?? new ConfigDict { ["type"] = "GIoULoss", ["loss_weight"] = 2.0 });

        // The points sit where the ATSS anchors are centred (anchor_generator.center_offset) so that both kinds of target
        // describe the same positions; MMDetection reads the key from the config (and fails without it).
        var anchorCfg = args.AnchorGenerator ?? DefaultAnchorGenerator();
        if (!anchorCfg.ContainsKey("center_offset"))
            throw new DetSharpException("VFNetHead: anchor_generator must set center_offset (MMDetection reads it to place the points); add center_offset=0.0.");
        double centerOffset = anchorCfg.Get<double>("center_offset");
        _pointGenerator = new MlvlPointGenerator(anchorCfg["strides"]!, useAtss ? centerOffset : 0.5);

        var norm = normCfg.Or(new ConfigDict { ["type"] = "GN", ["num_groups"] = 32L, ["requires_grad"] = true });
        bool bias = AnchorFreeHead.ConvBias(nameof(VFNetHead), convBias, norm);
        _clsConvs = new ConvTower(InChannels, FeatChannels, stackedConvs, norm, bias, convCfg, dcnOnLastConv).RegisterIn(register_module, "cls_convs");
        _regConvs = new ConvTower(InChannels, FeatChannels, stackedConvs, norm, bias, convCfg, dcnOnLastConv).RegisterIn(register_module, "reg_convs");
        // A direct child ConvModule: mmcv's init_weights re-runs its own (Kaiming) init after the head's Normal init.
        _vfnetRegConv = new ConvModule(FeatChannels, FeatChannels, 3, padding: 1, normCfg: norm, bias: bias, convCfg: convCfg);
        _vfnetReg = nn.Conv2d(FeatChannels, 4, 3, padding: 1);
        _scales = Strides.Select(_ => new Scale(1.0)).ToArray();
        _vfnetRegRefineDconv = new DeformConv2d(FeatChannels, FeatChannels, DcnKernel, padding: DcnPad);
        _vfnetRegRefine = nn.Conv2d(FeatChannels, 4, 3, padding: 1);
        _scalesRefine = Strides.Select(_ => new Scale(1.0)).ToArray();
        _vfnetClsDconv = new DeformConv2d(FeatChannels, FeatChannels, DcnKernel, padding: DcnPad);
        _vfnetCls = nn.Conv2d(FeatChannels, ClsOutChannels, 3, padding: 1);
        register_module("vfnet_reg_conv", _vfnetRegConv);
        register_module("vfnet_reg", _vfnetReg);
        register_module("scales", nn.ModuleList(_scales));
        register_module("vfnet_reg_refine_dconv", _vfnetRegRefineDconv);
        register_module("vfnet_reg_refine", _vfnetRegRefine);
        register_module("scales_refine", nn.ModuleList(_scalesRefine));
        register_module("vfnet_cls_dconv", _vfnetClsDconv);
        register_module("vfnet_cls", _vfnetCls);
        // init_cfg Normal(layer='Conv2d', std=0.01), vfnet_cls's bias at the focal prior; the deformable convs keep theirs.
        ModuleTools.NormalInit(_vfnetReg, 0, 0.01);
        ModuleTools.NormalInit(_vfnetRegRefine, 0, 0.01);
        ModuleTools.NormalInit(_vfnetCls, 0, 0.01, bias: -Math.Log((1 - 0.01) / 0.01));
    }

    private static ConfigDict DefaultAnchorGenerator() => new()
    {
        ["type"] = "AnchorGenerator", ["ratios"] = new ConfigList([1.0]), ["octave_base_scale"] = 8L, ["scales_per_octave"] = 1L,
        ["center_offset"] = 0.0, ["strides"] = new ConfigList([8L, 16L, 32L, 64L, 128L]),
    };

    /// <summary>MMDetection's defaults where they differ from AnchorHead's; with <c>use_vfl=False</c> the classification loss is <c>loss_cls_fl</c>.</summary>
    private static AnchorHeadArguments WithDefaults(AnchorHeadArguments args, bool useVfl, ConfigDict? lossClsFl) => args with
    {
        LossCls = useVfl
            ? args.LossCls ?? new ConfigDict
            {
                ["type"] = "VarifocalLoss", ["use_sigmoid"] = true, ["alpha"] = 0.75, ["gamma"] = 2.0, ["iou_weighted"] = true, ["loss_weight"] = 1.0,
            }
            : lossClsFl ?? new ConfigDict { ["type"] = "FocalLoss", ["use_sigmoid"] = true, ["gamma"] = 2.0, ["alpha"] = 0.25, ["loss_weight"] = 1.0 },
        LossBbox = args.LossBbox ?? new ConfigDict { ["type"] = "GIoULoss", ["loss_weight"] = 1.5 },
    };

    public int[] Strides { get; }

    public int StackedConvs { get; }

    /// <summary>Average the classification loss over at least one positive (the cross-GPU mean of one process is its own count).</summary>
    public bool SyncNumPos { get; }

    public double GradientMul { get; }

    public string BboxNormType { get; }

    public bool UseVfl { get; }

    public bool UseAtss { get; }

    public LossBase LossBboxRefine { get; }

    public override DenseHeadOutputs Forward(IReadOnlyList<Tensor> feats)
    {
        int levels = feats.Count;
        var cls = new Tensor[levels];
        var reg = new Tensor[levels];
        var refine = new Tensor[levels];
        for (int l = 0; l < levels; l++)
        {
            using var scope = NewDisposeScope();
            var clsFeat = _clsConvs.Forward(feats[l]);
            var regFeat = _regConvs.Forward(feats[l]);
            var regFeatInit = _vfnetRegConv.forward(regFeat);
            double norm = BboxNormType == "reg_denom" ? _regDenoms[l] : Strides[l];
            var bboxPred = _scales[l].forward(_vfnetReg.forward(regFeatInit)).to_type(ScalarType.Float32).exp() * norm;
            var dcnOffset = StarDcnOffset(bboxPred, GradientMul, Strides[l]).to_type(regFeat.dtype);
            regFeat = nn.functional.relu(_vfnetRegRefineDconv.forward(regFeat, dcnOffset));
            var bboxPredRefine = _scalesRefine[l].forward(_vfnetRegRefine.forward(regFeat)).to_type(ScalarType.Float32).exp() * bboxPred.detach();
            clsFeat = nn.functional.relu(_vfnetClsDconv.forward(clsFeat, dcnOffset));
            cls[l] = _vfnetCls.forward(clsFeat).MoveToOuterDisposeScope();
            reg[l] = bboxPred.MoveToOuterDisposeScope();
            refine[l] = bboxPredRefine.MoveToOuterDisposeScope();
        }
        return new VFNetHeadOutputs(cls, refine, reg);
    }

    /// <summary>
    /// <c>star_dcn_offset</c>: the offsets [N, 18, H, W] (mmcv's (Δy, Δx) per tap) that move the nine taps of a 3×3
    /// kernel from the regular grid to (x − l, y − t), (x, y − t), (x + r, y − t), (x − l, y), (x, y), (x + r, y),
    /// (x − l, y + b), (x, y + b), (x + r, y + b) in feature-map units; the gradient reaching <paramref name="bboxPred"/>
    /// through them is scaled by <paramref name="gradientMul"/>.
    /// </summary>
    public static Tensor StarDcnOffset(Tensor bboxPred, double gradientMul, int stride)
    {
        using var scope = NewDisposeScope();
        var scaled = ((1 - gradientMul) * bboxPred.detach() + gradientMul * bboxPred) / stride;
        var (left, top, right, bottom) = (scaled[.., 0], scaled[.., 1], scaled[.., 2], scaled[.., 3]);
        var zero = zeros_like(left);
        var star = stack([
            -top, -left, -top, zero, -top, right,
            zero, -left, zero, zero, zero, right,
            bottom, -left, bottom, zero, bottom, right,
        ], 1);
        // The regular 3×3 grid, (Δy, Δx) of tap k = i·3 + j being (i − 1, j − 1).
        var grid = new float[2 * DcnKernel * DcnKernel];
        for (int k = 0; k < DcnKernel * DcnKernel; k++)
        {
            grid[2 * k] = k / DcnKernel - DcnPad;
            grid[2 * k + 1] = k % DcnKernel - DcnPad;
        }
        var baseOffset = tensor(grid, device: bboxPred.device).view(1, -1, 1, 1).to_type(bboxPred.dtype);
        return (star - baseOffset).MoveToOuterDisposeScope();
    }

    public override LossDict Loss(DenseHeadOutputs outs, IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor>? gtLabels,
        IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor?>? gtBboxesIgnore = null)
    {
        if (gtLabels is null) throw new ArgumentException("VFNetHead needs gt_labels.");
        if (outs is not VFNetHeadOutputs vfnetOuts) throw new ArgumentException("VFNetHead.Loss needs the VFNetHeadOutputs of its own Forward.");
        var clsScores = outs.ClsScores;
        int numImgs = (int)clsScores[0].shape[0];
        var device = clsScores[0].device;
        var points = _pointGenerator.GridPriors(FeatmapSizes(clsScores), device);
        var (labels, labelWeights, bboxTargets) = UseAtss
            ? AtssTargets(clsScores, points, gtBboxes, gtLabels, imgMetas, gtBboxesIgnore)
            : FcosTargets(points, gtBboxes, gtLabels);

        var flatCls = cat(clsScores.Select(c => c.permute(0, 2, 3, 1).reshape(-1, ClsOutChannels)).ToList());
        var flatReg = cat(vfnetOuts.InitialBboxPreds.Select(b => b.permute(0, 2, 3, 1).reshape(-1, 4)).ToList());
        var flatRefine = cat(outs.BboxPreds.Select(b => b.permute(0, 2, 3, 1).reshape(-1, 4)).ToList());
        var flatLabels = cat(labels);
        var flatTargets = cat(bboxTargets);
        var flatPoints = cat(points.Select(p => p.repeat(numImgs, 1)).ToList());
        var posInds = nonzero((flatLabels >= 0) & (flatLabels < NumClasses)).reshape(-1);
        long numPos = posInds.numel();
        // One process: reduce_mean over ranks is the value itself.
        double numPosAvg = SyncNumPos ? Math.Max(numPos, 1.0) : numPos;

        var posReg = flatReg[posInds];
        var posRefine = flatRefine[posInds];
        var posPoints = flatPoints[posInds];
        var decodedTargets = BboxCoder.Decode(posPoints, flatTargets[posInds]).detach();
        var decodedReg = BboxCoder.Decode(posPoints, posReg);
        var decodedRefine = BboxCoder.Decode(posPoints, posRefine);
        var iouInit = BboxOverlaps.Compute(decodedReg, decodedTargets, isAligned: true).clamp_min(1e-6).detach();
        var iouRefine = BboxOverlaps.Compute(decodedRefine, decodedTargets, isAligned: true).clamp_min(1e-6).detach();
        double avgInit = Math.Max(iouInit.sum().item<float>(), 1.0);
        double avgRefine = Math.Max(iouRefine.sum().item<float>(), 1.0);

        var losses = new LossDict();
        Tensor lossBbox, lossBboxRefine;
        var clsIouTargets = UseVfl ? zeros_like(flatCls) : null;
        if (numPos > 0)
        {
            lossBbox = LossBbox.Forward(decodedReg, decodedTargets, iouInit, avgInit);
            lossBboxRefine = LossBboxRefine.Forward(decodedRefine, decodedTargets, iouRefine, avgRefine);
            clsIouTargets?.index_put_(iouRefine, posInds, flatLabels[posInds]);
        }
        else
        {
            lossBbox = posReg.sum() * 0;
            lossBboxRefine = posRefine.sum() * 0;
        }
        var lossCls = UseVfl
            ? LossCls.Forward(flatCls, clsIouTargets!, null, numPosAvg)
            : LossCls.Forward(flatCls, flatLabels, labelWeights, numPosAvg);
        losses.Add("loss_cls", lossCls);
        losses.Add("loss_bbox", lossBbox);
        losses.Add("loss_bbox_rf", lossBboxRefine);
        foreach (var p in points) p.Dispose();
        return losses;
    }

    /// <summary>
    /// <c>get_atss_targets</c>: AnchorHead's targets of the anchors (labels, weights and GT boxes per image), per level
    /// with the images concatenated, the boxes turned into (l, t, r, b) distances from the points.
    /// </summary>
    private (List<Tensor> Labels, Tensor? LabelWeights, List<Tensor> BboxTargets) AtssTargets(Tensor[] clsScores, Tensor[] points,
        IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor> gtLabels, IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor?>? gtBboxesIgnore)
    {
        var targets = GetTargets(clsScores, gtBboxes, gtLabels, imgMetas, gtBboxesIgnore);
        int numImgs = imgMetas.Count;
        var labels = targets.ToLevels(t => t.Labels).Select(t => t.reshape(-1)).ToList();
        var labelWeights = cat(targets.ToLevels(t => t.LabelWeights).Select(t => t.reshape(-1)).ToList());
        var bboxTargets = targets.ToLevels(t => t.BboxTargets)
            .Select((t, l) => BboxCoder.Encode(points[l].repeat(numImgs, 1), t.reshape(-1, 4))).ToList();
        return (labels, labelWeights, bboxTargets);
    }

    /// <summary><c>get_fcos_targets</c>: FCOS's labels and distances (never divided by the stride here), no label weights.</summary>
    private (List<Tensor> Labels, Tensor? LabelWeights, List<Tensor> BboxTargets) FcosTargets(Tensor[] points, IReadOnlyList<Tensor> gtBboxes,
        IReadOnlyList<Tensor> gtLabels)
    {
        var (labels, bboxTargets) = _fcosTargets.Get(points, gtBboxes, gtLabels, normOnBbox: false);
        return (labels, null, bboxTargets);
    }

    /// <summary>The points (not the ATSS anchors) are the priors the boxes are decoded from.</summary>
    protected override Tensor[] GridPriors(IReadOnlyList<(long H, long W)> featmapSizes, Device device) => _pointGenerator.GridPriors(featmapSizes, device);
}

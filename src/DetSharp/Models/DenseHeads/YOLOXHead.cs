using DetSharp.Config;
using DetSharp.Engine;
using DetSharp.Models.Common;
using DetSharp.Models.Losses;
using DetSharp.Models.Onnx;
using DetSharp.Models.TaskModules;
using DetSharp.Ops;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.DenseHeads;

/// <summary>
/// MMDetection's <c>YOLOXHead</c>: a decoupled head per level (no sharing across levels): <c>stacked_convs</c>
/// ConvModules for classification and as many for regression (BN, Swish; depthwise-separable with
/// <c>use_depthwise</c>; the last a DCNv2 with <c>dcn_on_last_conv</c>), then 1×1 predictors: <c>conv_cls</c> (C sigmoid
/// logits) on the classification branch, <c>conv_reg</c> (4) and <c>conv_obj</c> (objectness, 1) on the regression
/// branch. Priors are points at the cell corners (offset 0) with their strides; a box is decoded as centre
/// prior + pred·stride and size exp(pred)·stride (<see cref="YOLOXBBoxCoder"/>).
/// Training (<c>loss</c>): per image, <see cref="SimOTAAssigner"/> assigns the GTs from the detached predictions
/// (scores sigmoid(cls)·sigmoid(obj), priors shifted by half a stride to the cell centres); targets: IoU-aware one-hot
/// classes (one-hot × the matched IoU), objectness 1 on positives, the GT boxes, and with <see cref="UseL1"/> the encoded
/// GT boxes. Losses (summed, each divided by max(#positives, 1)): <c>loss_cls</c> and <c>loss_bbox</c> (IoU,
/// mode 'square', weight 5) on positives, <c>loss_obj</c> on every prior, <c>loss_l1</c> on positives with
/// <see cref="UseL1"/>. Test (<c>get_bboxes</c>): per prior the best class, score = its probability × objectness, kept
/// when ≥ <c>score_thr</c>, boxes divided by the scale factor when rescaled, then class-aware NMS (<c>nms</c>), without
/// a <c>max_per_img</c> cut.
/// </summary>
[Register(Registries.ModelsName, "YOLOXHead")]
public sealed class YOLOXHead : BaseDenseHead, Engine.IAuxiliaryL1Switch
{
    private readonly List<nn.Module<Tensor, Tensor>> _clsConvs = [];
    private readonly List<nn.Module<Tensor, Tensor>> _regConvs = [];
    private readonly List<TorchSharp.Modules.Conv2d> _convCls = [];
    private readonly List<TorchSharp.Modules.Conv2d> _convReg = [];
    private readonly List<TorchSharp.Modules.Conv2d> _convObj = [];
    private readonly int _numClasses;
    private readonly ConfigDict? _testCfg;
    private readonly SimOTAAssigner? _assigner;
    private readonly PseudoSampler _sampler = new();

    public YOLOXHead(int numClasses, int inChannels, int featChannels = 256, int stackedConvs = 2, int[]? strides = null, bool useDepthwise = false,
        bool dcnOnLastConv = false, object? convBias = null, ConfigDict? convCfg = null, ConfigOptional<ConfigDict> normCfg = default,
        ConfigOptional<ConfigDict> actCfg = default, ConfigDict? lossCls = null, ConfigDict? lossBbox = null, ConfigDict? lossObj = null,
        ConfigDict? lossL1 = null, ConfigDict? trainCfg = null, ConfigDict? testCfg = null, object? initCfg = null)
        : base(nameof(YOLOXHead))
    {
        _numClasses = numClasses;
        InChannels = inChannels;
        FeatChannels = featChannels;
        StackedConvs = stackedConvs;
        Strides = strides ?? [8, 16, 32];
        UseDepthwise = useDepthwise;
        _testCfg = testCfg;
        // The default init_cfg (Kaiming-uniform, a=√5, fan_in, on every Conv2d) is applied below; of the convs it names,
        // MMDetection's ConvModules re-initialise theirs afterwards, so it only shapes the predictors. An explicit one is kept.
        InitCfg = initCfg;
        LossCls = Builders.Loss(lossCls ?? SigmoidCrossEntropySum());
        LossBbox = Builders.Loss(lossBbox ?? new ConfigDict
        {
            ["type"] = "IoULoss", ["mode"] = "square", ["eps"] = 1e-16, ["reduction"] = "sum", ["loss_weight"] = 5.0,
        });
        LossObj = Builders.Loss(lossObj ?? SigmoidCrossEntropySum());
        LossL1 = Builders.Loss(lossL1 ?? new ConfigDict { ["type"] = "L1Loss", ["reduction"] = "sum", ["loss_weight"] = 1.0 });
        PriorGenerator = new MlvlPointGenerator(new ConfigList(Strides.Select(s => (object?)(long)s)), offset: 0);
        if (trainCfg is not null)
            _assigner = Builders.TaskModule<SimOTAAssigner>(trainCfg.Get<ConfigDict>("assigner"));

        var convs = ConvModuleSettings.Yolox(convCfg, normCfg, actCfg, nameof(YOLOXHead));
        bool bias = AnchorFreeHead.ConvBias(nameof(YOLOXHead), convBias, convs.NormCfg);
        foreach (var _ in Strides)
        {
            _clsConvs.Add(StackedConvsOf(convs, bias, dcnOnLastConv));
            _regConvs.Add(StackedConvsOf(convs, bias, dcnOnLastConv));
            _convCls.Add(Predictor(featChannels, numClasses, PriorProbBias));
            _convReg.Add(Predictor(featChannels, 4, 0));
            _convObj.Add(Predictor(featChannels, 1, PriorProbBias));
        }
        register_module("multi_level_cls_convs", nn.ModuleList(_clsConvs.ToArray()));
        register_module("multi_level_reg_convs", nn.ModuleList(_regConvs.ToArray()));
        register_module("multi_level_conv_cls", nn.ModuleList(_convCls.ToArray()));
        register_module("multi_level_conv_reg", nn.ModuleList(_convReg.ToArray()));
        register_module("multi_level_conv_obj", nn.ModuleList(_convObj.ToArray()));
    }

    /// <summary><c>bias_init_with_prob(0.01)</c>: the classification and objectness biases start at a 1 % probability.</summary>
    private static readonly double PriorProbBias = -Math.Log((1 - 0.01) / 0.01);

    private static ConfigDict SigmoidCrossEntropySum() => new()
    {
        ["type"] = "CrossEntropyLoss", ["use_sigmoid"] = true, ["reduction"] = "sum", ["loss_weight"] = 1.0,
    };

    private nn.Module<Tensor, Tensor> StackedConvsOf(ConvModuleSettings convs, bool bias, bool dcnOnLastConv)
    {
        var layers = new nn.Module<Tensor, Tensor>[StackedConvs];
        for (int i = 0; i < StackedConvs; i++)
        {
            var settings = dcnOnLastConv && i == StackedConvs - 1 ? convs with { ConvCfg = new ConfigDict { ["type"] = "DCNv2" } } : convs;
            layers[i] = settings.Conv(UseDepthwise, i == 0 ? InChannels : FeatChannels, FeatChannels, 3, 1, 1, bias);
        }
        return nn.Sequential(layers);
    }

    /// <summary>A 1×1 predictor with the default init_cfg's Kaiming-uniform weights (a=√5, fan_in, leaky_relu) and a constant bias.</summary>
    private static TorchSharp.Modules.Conv2d Predictor(long inChannels, long outChannels, double bias)
    {
        var conv = nn.Conv2d(inChannels, outChannels, 1);
        using var noGrad = no_grad();
        nn.init.kaiming_uniform_(conv.weight, a: Math.Sqrt(5), mode: nn.init.FanInOut.FanIn, nonlinearity: nn.init.NonlinearityType.LeakyReLU);
        conv.bias!.fill_(bias);
        return conv;
    }

    public override int NumClasses => _numClasses;

    public int InChannels { get; }

    public int FeatChannels { get; }

    public int StackedConvs { get; }

    public int[] Strides { get; }

    public bool UseDepthwise { get; }

    /// <summary>
    /// MMDetection's <c>use_l1</c>: adds <c>loss_l1</c> (the raw box outputs against the encoded GT boxes). Off when built;
    /// YOLOX's mode-switch hook turns it on for the last epochs.
    /// </summary>
    public bool UseL1 { get; set; }

    public LossBase LossCls { get; }

    public LossBase LossBbox { get; }

    public LossBase LossObj { get; }

    public LossBase LossL1 { get; }

    public MlvlPointGenerator PriorGenerator { get; }

    public SimOTAAssigner? Assigner => _assigner;

    public override int ClsOutChannels => _numClasses;

    public override bool UseSigmoidCls => true;

    public override IBBoxCoder BboxCoder { get; } = new YOLOXBBoxCoder();

    protected override ConfigDict? TestCfg => _testCfg;

    /// <summary>Points with their strides (x, y, stride_w, stride_h), at the cell corners.</summary>
    protected override Tensor[] GridPriors(IReadOnlyList<(long H, long W)> featmapSizes, Device device) =>
        PriorGenerator.GridPriors(featmapSizes, device, withStride: true);

    /// <summary>Per level: classification logits [B, C, H, W], box outputs [B, 4, H, W], objectness logits [B, 1, H, W] (the score factors).</summary>
    public override DenseHeadOutputs Forward(IReadOnlyList<Tensor> feats)
    {
        if (feats.Count != Strides.Length) throw new ArgumentException($"YOLOXHead has {Strides.Length} levels, got {feats.Count} feature maps.");
        var cls = new Tensor[feats.Count];
        var reg = new Tensor[feats.Count];
        var obj = new Tensor[feats.Count];
        for (int l = 0; l < feats.Count; l++)
        {
            using var scope = NewDisposeScope();
            var clsFeat = _clsConvs[l].forward(feats[l]);
            var regFeat = _regConvs[l].forward(feats[l]);
            cls[l] = _convCls[l].forward(clsFeat).MoveToOuterDisposeScope();
            reg[l] = _convReg[l].forward(regFeat).MoveToOuterDisposeScope();
            obj[l] = _convObj[l].forward(regFeat).MoveToOuterDisposeScope();
        }
        return new DenseHeadOutputs(cls, reg, obj);
    }

    /// <summary>
    /// YOLOX's <c>get_bboxes</c> for one image: best class per prior, score × objectness ≥ <c>score_thr</c>, decoded boxes
    /// (divided by the scale factor when rescaled; not clipped), NMS per class. Without NMS: the kept candidates.
    /// </summary>
    protected override DenseDetections GetBboxesSingle(DenseHeadOutputs outs, int img, Tensor[] priors, ImgMeta imgMeta, ConfigDict cfg, bool rescale,
        bool withNms)
    {
        var objectness = outs.ScoreFactors ?? throw new ArgumentException("YOLOXHead.GetBboxes needs the objectness outputs.");
        var clsScores = cat(outs.ClsScores.Select(c => c[img].permute(1, 2, 0).reshape(-1, ClsOutChannels)).ToList()).sigmoid();
        var bboxPreds = cat(outs.BboxPreds.Select(b => b[img].permute(1, 2, 0).reshape(-1, 4)).ToList());
        var scoreFactor = cat(objectness.Select(o => o[img].reshape(-1)).ToList()).sigmoid();
        var bboxes = BboxCoder.Decode(cat(priors), bboxPreds);
        if (rescale) bboxes = bboxes / tensor(imgMeta.ScaleFactor, device: bboxes.device);
        var (maxScores, labels) = clsScores.max(1);
        var valid = scoreFactor * maxScores >= cfg.Get<double>("score_thr");
        bboxes = bboxes[valid];
        var scores = maxScores[valid] * scoreFactor[valid];
        labels = labels[valid];
        if (!withNms || labels.numel() == 0) return new DenseDetections(cat([bboxes, scores.unsqueeze(1)], 1), labels);
        var (dets, keep) = Nms.BatchedNms(bboxes, scores, labels, Builders.Nms(cfg.Get<ConfigDict>("nms")));
        return new DenseDetections(dets, labels[keep]);
    }

    /// <summary><see cref="Forward"/> as ONNX nodes: per level the class, box and objectness maps [1, K, H, W].</summary>
    protected override (IReadOnlyList<string> ClsScores, IReadOnlyList<string> BboxPreds, IReadOnlyList<string>? ScoreFactors) ExportForward(
        OnnxExportContext ctx, IReadOnlyList<string> feats)
    {
        ctx.RequireExportOf(this, nameof(Forward), nameof(ExportForward));
        if (feats.Count != Strides.Length) throw ctx.Unsupported(this, $"{feats.Count} feature maps for {Strides.Length} levels");
        var cls = new List<string>();
        var reg = new List<string>();
        var obj = new List<string>();
        for (int l = 0; l < feats.Count; l++)
        {
            string clsFeat = ctx.Forward(_clsConvs[l], feats[l]);
            string regFeat = ctx.Forward(_regConvs[l], feats[l]);
            cls.Add(ctx.Forward(_convCls[l], clsFeat));
            reg.Add(ctx.Forward(_convReg[l], regFeat));
            obj.Add(ctx.Forward(_convObj[l], regFeat));
        }
        return (cls, reg, obj);
    }

    /// <summary>The priors with their strides in the graph (a dynamic export), as <see cref="GridPriors"/>.</summary>
    protected override string ExportGridPriors(OnnxExportContext ctx, string featmap, int level, string name) =>
        PriorGenerator.ExportGridPriors(ctx, featmap, level, name, withStride: true);

    /// <summary>
    /// <see cref="Forward"/> and <see cref="GetBboxesSingle"/> of one image as ONNX nodes: per level the branches and
    /// predictors, flattened over levels in the priors' order; the best class per prior (ReduceMax / ArgMax), score =
    /// its probability × sigmoid(objectness), kept when ≥ <c>score_thr</c>; boxes decoded as <c>_bbox_decode</c> (not
    /// clipped), then class-aware NMS. As MMDetection's YOLOXHead there is no <c>nms_pre</c> and no <c>max_per_img</c>
    /// cut, so NMS may keep every candidate. Boxes are in the resized image's coordinates (rescaling is the runtime's).
    /// </summary>
    public override (string Dets, string Labels) ExportSimpleTest(OnnxExportContext ctx, IReadOnlyList<string> feats, OnnxImageInputs inputs)
    {
        ctx.RequireExportOf(this, nameof(GetBboxesSingle), nameof(ExportSimpleTest));
        var cfg = TestCfg ?? throw new DetSharpException($"ONNX export: {GetType().Name} at '{ctx.PathOf(this)}' needs a test_cfg.");
        string head = ctx.ValueName(this);
        var maps = ExportForward(ctx, feats);
        var cls = new List<string>();
        var reg = new List<string>();
        var obj = new List<string>();
        for (int l = 0; l < feats.Count; l++)
        {
            string lv = $"{head}.level{l}";
            // [1, K, H, W] -> [H·W, K], as c[img].permute(1, 2, 0).reshape(-1, K): rows in the priors' order.
            string Rows(string x, string what, long k) => ctx.Reshape(ctx.Transpose(x, $"{lv}.{what}_hwc", 0, 2, 3, 1), $"{lv}.{what}_rows", -1, k);
            cls.Add(Rows(maps.ClsScores[l], "cls", ClsOutChannels));
            reg.Add(Rows(maps.BboxPreds[l], "reg", 4));
            obj.Add(Rows(maps.ScoreFactors![l], "obj", 1));
        }
        var priors = ExportPriors(ctx, inputs, feats, l => $"{head}.level{l}.priors");
        string allPriors = ctx.Concat([.. priors.Select(p => p.Priors)], head + ".priors", 0);
        string clsScores = ctx.Sigmoid(ctx.Concat(cls, head + ".cls", 0), head + ".cls_sigmoid");
        string deltas = ctx.Concat(reg, head + ".reg", 0);
        string objectness = ctx.Sigmoid(ctx.Reshape(ctx.Concat(obj, head + ".obj", 0), head + ".obj_flat", -1), head + ".obj_sigmoid");
        // _bbox_decode: centre = prior + delta·stride, size = exp(delta)·stride.
        string stride = ctx.Slice(allPriors, 1, 2, 4, head + ".stride");
        string centres = ctx.Add(ctx.Mul(ctx.Slice(deltas, 1, 0, 2, head + ".delta_xy"), stride, head + ".scaled_xy"),
            ctx.Slice(allPriors, 1, 0, 2, head + ".prior_xy"), head + ".centres");
        string half = ctx.Div(ctx.Mul(ctx.Graph.Node("Exp", [ctx.Slice(deltas, 1, 2, 4, head + ".delta_wh")], head + ".exp_wh"), stride, head + ".sizes"),
            ctx.Scalar(head + ".two", 2f), head + ".half_sizes");
        string boxes = ctx.Concat([ctx.Sub(centres, half, head + ".top_left"), ctx.Add(centres, half, head + ".bottom_right")], head + ".boxes", 1);
        string maxScores = ctx.Graph.Node("ReduceMax", [clsScores], head + ".max_cls", OnnxGraphBuilder.Attr("axes", [1L]), OnnxGraphBuilder.Attr("keepdims", 0L));
        string labels = ctx.Graph.Node("ArgMax", [clsScores], head + ".best_class", OnnxGraphBuilder.Attr("axis", 1L), OnnxGraphBuilder.Attr("keepdims", 0L));
        string scores = ctx.Mul(objectness, maxScores, head + ".all_scores");
        string valid = ctx.Graph.Node("GreaterOrEqual", [scores, ctx.Scalar(head + ".score_thr", (float)cfg.Get<double>("score_thr"))], head + ".valid");
        string keptBoxes = ctx.Compress(boxes, valid, head + ".kept_boxes");
        string keptScores = ctx.Compress(scores, valid, head + ".kept_scores");
        string keptLabels = ctx.Compress(labels, valid, head + ".kept_labels");
        // No max_per_img: every box may survive NMS (the largest count NonMaxSuppression takes).
        string nmsKeep = ctx.BatchedNms(keptBoxes, keptScores, keptLabels, Builders.Nms(cfg.Get<ConfigDict>("nms")), int.MaxValue, head + ".nms");
        string dets = ctx.Concat([ctx.Gather(keptBoxes, nmsKeep, 0, head + ".det_boxes"),
            ctx.Unsqueeze(ctx.Gather(keptScores, nmsKeep, 0, head + ".det_scores"), head + ".det_scores_col", 1)], head + ".dets", 1);
        return (dets, ctx.Gather(keptLabels, nmsKeep, 0, head + ".det_labels"));
    }

    public override LossDict Loss(DenseHeadOutputs outs, IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor>? gtLabels, IReadOnlyList<ImgMeta> imgMetas,
        IReadOnlyList<Tensor?>? gtBboxesIgnore = null)
    {
        if (gtLabels is null) throw new ArgumentException("YOLOXHead needs gt_labels.");
        int numImgs = imgMetas.Count;
        var (priors, flatCls, flatReg, flatObj, flatBboxes) = Flatten(outs, numImgs);

        var posMasks = new List<Tensor>();
        var clsTargets = new List<Tensor>();
        var objTargets = new List<Tensor>();
        var bboxTargets = new List<Tensor>();
        var l1Targets = new List<Tensor>();
        long numPos = 0;
        using (no_grad())
        {
            for (int i = 0; i < numImgs; i++)
            {
                var t = TargetsSingle(flatCls[i].detach(), flatObj[i].detach(), priors, flatBboxes[i].detach(), gtBboxes[i], gtLabels[i]);
                posMasks.Add(t.PosMask);
                clsTargets.Add(t.ClsTarget);
                objTargets.Add(t.ObjTarget);
                bboxTargets.Add(t.BboxTarget);
                l1Targets.Add(t.L1Target);
                numPos += t.NumPos;
            }
        }
        // One process: reduce_mean over ranks is the count itself.
        double numTotalSamples = Math.Max(numPos, 1.0);
        var posMask = cat(posMasks);
        var losses = new LossDict();
        losses.Add("loss_cls", LossCls.Forward(flatCls.view(-1, _numClasses)[posMask], cat(clsTargets)) / numTotalSamples);
        losses.Add("loss_bbox", LossBbox.Forward(flatBboxes.view(-1, 4)[posMask], cat(bboxTargets)) / numTotalSamples);
        losses.Add("loss_obj", LossObj.Forward(flatObj.view(-1, 1), cat(objTargets)) / numTotalSamples);
        if (UseL1) losses.Add("loss_l1", LossL1.Forward(flatReg.view(-1, 4)[posMask], cat(l1Targets)) / numTotalSamples);
        // loss_cls, loss_bbox, loss_obj in MMDetection's dict order (loss_bbox is computed first there, listed second).
        return Reordered(losses);
    }

    /// <summary>Priors of every level and the batch's outputs flattened over levels: [N, 4], [B, N, C], [B, N, 4], [B, N], decoded boxes [B, N, 4].</summary>
    private (Tensor Priors, Tensor Cls, Tensor Reg, Tensor Obj, Tensor Bboxes) Flatten(DenseHeadOutputs outs, int numImgs)
    {
        var objectness = outs.ScoreFactors ?? throw new ArgumentException("YOLOXHead needs the objectness outputs.");
        var priorsPerLevel = GridPriors(FeatmapSizes(outs.ClsScores), outs.ClsScores[0].device);
        var priors = cat(priorsPerLevel);
        foreach (var p in priorsPerLevel) p.Dispose();
        var flatCls = cat(outs.ClsScores.Select(c => c.permute(0, 2, 3, 1).reshape(numImgs, -1, ClsOutChannels)).ToList(), 1);
        var flatReg = cat(outs.BboxPreds.Select(b => b.permute(0, 2, 3, 1).reshape(numImgs, -1, 4)).ToList(), 1);
        var flatObj = cat(objectness.Select(o => o.permute(0, 2, 3, 1).reshape(numImgs, -1)).ToList(), 1);
        return (priors, flatCls, flatReg, flatObj, BboxCoder.Decode(priors, flatReg));
    }

    /// <summary>SimOTA's assignment of every image as <see cref="Loss"/> computes it (from the detached predictions).</summary>
    public List<AssignResult> Assign(DenseHeadOutputs outs, IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor> gtLabels)
    {
        using var noGrad = no_grad();
        int numImgs = gtBboxes.Count;
        var (priors, flatCls, _, flatObj, flatBboxes) = Flatten(outs, numImgs);
        var results = new List<AssignResult>(numImgs);
        for (int i = 0; i < numImgs; i++)
            results.Add(AssignSingle(flatCls[i], flatObj[i], priors, flatBboxes[i], gtBboxes[i].to_type(flatBboxes.dtype), gtLabels[i]));
        return results;
    }

    /// <summary>
    /// SimOTA on one image: scores sigmoid(cls)·sigmoid(obj); assigned from the cell centres (priors shifted by half a
    /// stride), while boxes are regressed from the corners.
    /// </summary>
    private AssignResult AssignSingle(Tensor clsPreds, Tensor objectness, Tensor priors, Tensor decodedBboxes, Tensor gtBboxes, Tensor gtLabels)
    {
        if (_assigner is null) throw new DetSharpException("YOLOXHead: training needs a train_cfg with an assigner (e.g. dict(assigner=dict(type='SimOTAAssigner', center_radius=2.5))).");
        var offsetPriors = cat([priors[.., ..2] + priors[.., 2..] * 0.5, priors[.., 2..]], -1);
        return _assigner.Assign(clsPreds.sigmoid() * objectness.unsqueeze(1).sigmoid(), offsetPriors, decodedBboxes, gtBboxes, gtLabels);
    }

    private static LossDict Reordered(LossDict losses)
    {
        var ordered = new LossDict();
        foreach (var key in new[] { "loss_cls", "loss_bbox", "loss_obj", "loss_l1" })
        {
            if (losses.Keys.Contains(key)) ordered.Add(key, losses[key]);
        }
        return ordered;
    }

    private readonly record struct ImageTargets(Tensor PosMask, Tensor ClsTarget, Tensor ObjTarget, Tensor BboxTarget, Tensor L1Target, long NumPos);

    /// <summary><c>_get_target_single</c>: SimOTA on one image's detached predictions.</summary>
    private ImageTargets TargetsSingle(Tensor clsPreds, Tensor objectness, Tensor priors, Tensor decodedBboxes, Tensor gtBboxes, Tensor gtLabels)
    {
        long numPriors = priors.shape[0];
        var device = clsPreds.device;
        gtBboxes = gtBboxes.to_type(decodedBboxes.dtype);
        if (gtLabels.shape[0] == 0)
        {
            return new ImageTargets(zeros(numPriors, ScalarType.Bool, device), zeros(0, _numClasses, device: device), zeros(numPriors, 1, device: device),
                zeros(0, 4, device: device), zeros(0, 4, device: device), 0);
        }
        var assign = AssignSingle(clsPreds, objectness, priors, decodedBboxes, gtBboxes, gtLabels);
        var sampling = _sampler.Sample(assign, priors, gtBboxes);
        var posInds = sampling.PosInds;
        var posIous = assign.MaxOverlaps[posInds];
        var clsTarget = nn.functional.one_hot(sampling.PosGtLabels!, _numClasses).to_type(ScalarType.Float32) * posIous.unsqueeze(-1);
        var objTarget = zeros(numPriors, 1, device: device);
        objTarget[posInds] = 1.0f;
        var bboxTarget = sampling.PosGtBboxes;
        var l1Target = UseL1 ? BboxCoder.Encode(priors[posInds], bboxTarget) : zeros(posInds.shape[0], 4, device: device);
        var posMask = zeros(numPriors, ScalarType.Bool, device);
        posMask[posInds] = true;
        return new ImageTargets(posMask, clsTarget, objTarget, bboxTarget, l1Target, posInds.shape[0]);
    }
}

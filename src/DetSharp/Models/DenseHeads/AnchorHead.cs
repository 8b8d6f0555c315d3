using DetSharp.Config;
using DetSharp.Engine;
using DetSharp.Models.Common;
using DetSharp.Models.Losses;
using DetSharp.Models.Onnx;
using DetSharp.Models.TaskModules;
using DetSharp.Registry;
using DetSharp.Utils;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.DenseHeads;

/// <summary>
/// AnchorHead's constructor arguments under MMDetection's names; the anchor-based heads (RPNHead, RetinaHead, ...) take
/// them as one <see cref="InheritedArgumentsAttribute"/> parameter. Null sub-configs take the head's own defaults.
/// </summary>
public sealed record AnchorHeadArguments(
    int InChannels,
    int? NumClasses = null,
    int FeatChannels = 256,
    ConfigDict? AnchorGenerator = null,
    ConfigDict? BboxCoder = null,
    bool? RegDecodedBbox = null,
    ConfigDict? LossCls = null,
    ConfigDict? LossBbox = null,
    ConfigDict? TrainCfg = null,
    ConfigDict? TestCfg = null,
    object? InitCfg = null);

/// <summary>
/// MMDetection's <c>AnchorHead</c>: anchors from <c>anchor_generator</c> on every level, 1×1 <c>conv_cls</c>
/// (A·C logits; C = num_classes with a sigmoid loss, num_classes + 1 with softmax) and <c>conv_reg</c> (A·4 deltas).
/// Training (<c>get_targets</c>): per image the anchors inside the image (<c>allowed_border</c>) are assigned
/// (<c>train_cfg.assigner</c>) and sampled (<c>train_cfg.sampler</c>, or <see cref="PseudoSampler"/> when the config has
/// none or the classification loss is FocalLoss/GHMC/QualityFocalLoss); positives get their GT's label (0 for
/// class-agnostic heads), everything else the background index num_classes; box targets are the coder's deltas (the
/// GT boxes with <c>reg_decoded_bbox</c>, when the loss sees decoded boxes). Losses per level, averaged over the sampled
/// anchors (positives only without sampling). Test: per level the best <c>nms_pre</c> (position, class) scores above
/// <c>score_thr</c>, decoded and clipped, then class-aware NMS and <c>max_per_img</c>.
/// </summary>
[Register(Registries.ModelsName, "AnchorHead")]
public class AnchorHead : BaseDenseHead
{
    private static readonly string[] NonSamplingLosses = ["FocalLoss", "GHMC", "QualityFocalLoss"];

    private readonly TorchSharp.Modules.Conv2d? _convCls, _convReg;

    public AnchorHead([InheritedArguments] AnchorHeadArguments args)
        : this(nameof(AnchorHead), args, args.NumClasses ?? throw new DetSharpException("AnchorHead: num_classes is required."), null)
    {
        _convCls = nn.Conv2d(InChannels, NumBaseAnchors * ClsOutChannels, 1);
        _convReg = nn.Conv2d(InChannels, NumBaseAnchors * 4, 1);
        register_module("conv_cls", _convCls);
        register_module("conv_reg", _convReg);
        ModuleTools.NormalInit(_convCls, 0, 0.01);
        ModuleTools.NormalInit(_convReg, 0, 0.01);
    }

    /// <summary>
    /// Builds everything but the layers, which each subclass registers under its MMDetection names. The defaults are the
    /// subclass's own where MMDetection's differ from AnchorHead's (ATSSHead decodes boxes for its loss, GFLHead regresses
    /// distances from anchor centres).
    /// </summary>
    /// <param name="sampling">
    /// null: sampling unless the classification loss weighs every anchor itself; false for the heads that never sample
    /// (SSD, ATSS, GFL: a PseudoSampler).
    /// </param>
    protected AnchorHead(string name, AnchorHeadArguments args, int numClasses, ConfigDict? defaultAnchorGenerator, bool? sampling = null,
        ConfigDict? defaultBboxCoder = null, bool defaultRegDecodedBbox = false)
        : base(name)
    {
        _numClasses = numClasses;
        InChannels = args.InChannels;
        FeatChannels = args.FeatChannels;
        RegDecodedBbox = args.RegDecodedBbox ?? defaultRegDecodedBbox;
        InitCfg = args.InitCfg;
        TrainCfg = args.TrainCfg;
        TestCfg = args.TestCfg;
        AnchorGenerator = Builders.TaskModule<AnchorGenerator>(args.AnchorGenerator ?? defaultAnchorGenerator ?? new ConfigDict
        {
            ["type"] = "AnchorGenerator", ["scales"] = new ConfigList([8L, 16L, 32L]), ["ratios"] = new ConfigList([0.5, 1.0, 2.0]),
            ["strides"] = new ConfigList([4L, 8L, 16L, 32L, 64L]),
        });
        BboxCoder = Builders.TaskModule<IBBoxCoder>(args.BboxCoder ?? defaultBboxCoder ?? new ConfigDict { ["type"] = "DeltaXYWHBBoxCoder" });
        var lossCls = args.LossCls ?? new ConfigDict { ["type"] = "CrossEntropyLoss", ["use_sigmoid"] = true, ["loss_weight"] = 1.0 };
        LossCls = Builders.Loss(lossCls);
        LossBbox = Builders.Loss(args.LossBbox ?? new ConfigDict { ["type"] = "SmoothL1Loss", ["beta"] = 1.0 / 9.0, ["loss_weight"] = 1.0 });
        // losses with buffers (GHM) keep them in the state_dict under loss_cls / loss_bbox, before the layers, as in MMDetection
        if (LossCls is IStatefulLoss clsState) register_module("loss_cls", clsState.State);
        if (LossBbox is IStatefulLoss bboxState) register_module("loss_bbox", bboxState.State);
        UseSigmoidCls = lossCls.Get("use_sigmoid", false);
        Sampling = sampling ?? !NonSamplingLosses.Contains(lossCls.Get<string>("type"));
        ClsOutChannels = UseSigmoidCls ? numClasses : numClasses + 1;
        if (ClsOutChannels <= 0) throw new DetSharpException($"{name}: num_classes={numClasses} is too small.");
        if (TrainCfg is not null)
        {
            Assigner = Builders.TaskModule<object>(TrainCfg.Get<ConfigDict>("assigner")) switch
            {
                var a when a is IBBoxAssigner or IMultiLevelAssigner => a,
                var other => throw new DetSharpException($"{name}: train_cfg.assigner {other.GetType().Name} is not a box assigner."),
            };
            Sampler = Sampling && TrainCfg.Get<ConfigDict?>("sampler", null) is { } sampler
                ? Builders.TaskModule<IBBoxSampler>(sampler)
                : new PseudoSampler();
        }
        NumBaseAnchors = AnchorGenerator.NumBaseAnchors[0];
    }

    private readonly int _numClasses;

    public override int NumClasses => _numClasses;

    public int InChannels { get; }

    public int FeatChannels { get; }

    public override int ClsOutChannels { get; }

    /// <summary>Anchors per position (<c>num_base_priors</c>).</summary>
    public int NumBaseAnchors { get; }

    public override bool UseSigmoidCls { get; }

    /// <summary>False for the losses that weigh every anchor themselves (FocalLoss, GHMC, QualityFocalLoss): no sampler, loss averaged over positives.</summary>
    public bool Sampling { get; }

    public bool RegDecodedBbox { get; }

    public AnchorGenerator AnchorGenerator { get; }

    public override IBBoxCoder BboxCoder { get; }

    public LossBase LossCls { get; }

    public LossBase LossBbox { get; }

    protected ConfigDict? TrainCfg { get; }

    protected override ConfigDict? TestCfg { get; }

    /// <summary>An <see cref="IBBoxAssigner"/>, or an <see cref="IMultiLevelAssigner"/> (ATSSAssigner), which is also told each level's anchor count.</summary>
    protected object? Assigner { get; }

    protected IBBoxSampler? Sampler { get; }

    /// <summary>Names of the two losses in the loss dict (the RPN logs them as <c>loss_rpn_cls</c> / <c>loss_rpn_bbox</c>).</summary>
    protected virtual (string Cls, string Bbox) LossNames => ("loss_cls", "loss_bbox");

    /// <summary><c>forward_single</c>: one level's logits and regressions.</summary>
    protected virtual (Tensor ClsScore, Tensor BboxPred) ForwardSingle(Tensor x) => (_convCls!.forward(x), _convReg!.forward(x));

    /// <summary>One level's outputs, for the heads whose layers differ by level (RetinaSepBNHead's norms).</summary>
    protected virtual (Tensor ClsScore, Tensor BboxPred) ForwardSingle(Tensor x, int level) => ForwardSingle(x);

    /// <summary><see cref="ForwardSingle"/> as ONNX nodes (the plain AnchorHead's two convs; a head with its own layers overrides both).</summary>
    protected virtual (string ClsScore, string BboxPred) ExportForwardSingle(OnnxExportContext ctx, string x)
    {
        ctx.RequireExportOf(this, nameof(ForwardSingle), nameof(ExportForwardSingle));
        return (ctx.Forward(_convCls!, x), ctx.Forward(_convReg!, x));
    }

    protected override (IReadOnlyList<string> ClsScores, IReadOnlyList<string> BboxPreds, IReadOnlyList<string>? ScoreFactors) ExportForward(
        OnnxExportContext ctx, IReadOnlyList<string> feats)
    {
        ctx.RequireExportOf(this, nameof(Forward), nameof(ExportForward));
        var levels = feats.Select(f => ExportForwardSingle(ctx, f)).ToList();
        return (levels.Select(l => l.ClsScore).ToList(), levels.Select(l => l.BboxPred).ToList(), null);
    }

    public override DenseHeadOutputs Forward(IReadOnlyList<Tensor> feats)
    {
        var cls = new Tensor[feats.Count];
        var reg = new Tensor[feats.Count];
        for (int i = 0; i < feats.Count; i++)
        {
            using var scope = NewDisposeScope();
            var (c, r) = ForwardSingle(feats[i], i);
            cls[i] = c.MoveToOuterDisposeScope();
            reg[i] = r.MoveToOuterDisposeScope();
        }
        return new DenseHeadOutputs(cls, reg);
    }

    /// <summary>
    /// The targets of every anchor of one image (all levels flattened), with the counts that set the loss's average
    /// factor and the sampling result (whose positives are in anchor order).
    /// </summary>
    protected sealed record ImageTargets(Tensor Labels, Tensor LabelWeights, Tensor BboxTargets, Tensor BboxWeights, long NumPos, long NumNeg, SamplingResult Sampling);

    /// <summary>
    /// <c>get_targets</c> of a batch: the anchors of every level, each image's <see cref="ImageTargets"/>, and
    /// num_total_pos / num_total_neg (each image counting at least one).
    /// </summary>
    protected sealed record BatchTargets(Tensor[] Anchors, List<long> NumLevelAnchors, List<ImageTargets> Images, long NumTotalPos, long NumTotalNeg)
    {
        /// <summary>One target of every image split into levels, [B, n_l, ...] per level (<c>images_to_levels</c>).</summary>
        public Tensor[] ToLevels(Func<ImageTargets, Tensor> select) => BoxTools.ImagesToLevels(Images.ConvertAll(t => select(t)), NumLevelAnchors);
    }

    /// <summary><c>get_targets</c> for the featmaps of <paramref name="clsScores"/>: their anchors, assigned and sampled per image.</summary>
    protected BatchTargets GetTargets(Tensor[] clsScores, IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor>? gtLabels,
        IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor?>? gtBboxesIgnore)
    {
        var sizes = FeatmapSizes(clsScores);
        return GetTargets(AnchorGenerator.GridPriors(sizes, clsScores[0].device), sizes, gtBboxes, gtLabels, imgMetas, gtBboxesIgnore);
    }

    /// <summary>The regression targets of the positives: the coder's deltas, or the GT boxes themselves with <c>reg_decoded_bbox</c>.</summary>
    protected virtual Tensor PosBboxTargets(SamplingResult sampling) =>
        RegDecodedBbox ? sampling.PosGtBboxes : BboxCoder.Encode(sampling.PosBboxes, sampling.PosGtBboxes);

    /// <summary><c>_get_targets_single</c> over the image's flattened anchors of all levels.</summary>
    private ImageTargets GetTargetsSingle(Tensor flatAnchors, Tensor validFlags, IReadOnlyList<long> numLevelAnchors, Tensor gtBboxes,
        Tensor? gtBboxesIgnore, Tensor? gtLabels, ImgMeta imgMeta)
    {
        var inside = BoxTools.AnchorInsideFlags(flatAnchors, validFlags, imgMeta.ImgShape, TrainCfg!.Get("allowed_border", -1));
        if (!inside.any().item<bool>())
            throw new DetSharpException("There is no valid anchor inside the image boundary. Please check the image size and anchor sizes, or set allowed_border to -1 to skip the condition.");
        var anchors = flatAnchors[inside];
        var assign = Assigner switch
        {
            // get_num_level_anchors_inside: the level sizes after dropping the anchors outside the image.
            IMultiLevelAssigner multiLevel => multiLevel.Assign(anchors,
                inside.split(numLevelAnchors.ToArray()).Select(f => f.sum().item<long>()).ToList(), gtBboxes, gtBboxesIgnore, gtLabels),
            IBBoxAssigner single => single.Assign(anchors, gtBboxes, gtBboxesIgnore, Sampling ? null : gtLabels),
            _ => throw new InvalidOperationException($"{GetType().Name} has no assigner."),
        };
        var sampling = Sampler!.Sample(assign, anchors, gtBboxes);
        long numValid = anchors.shape[0];
        var device = anchors.device;
        var bboxTargets = zeros_like(anchors);
        var bboxWeights = zeros_like(anchors);
        var labels = full(numValid, (long)NumClasses, ScalarType.Int64, device);
        var labelWeights = zeros(numValid, ScalarType.Float32, device);
        double posWeight = TrainCfg.Get("pos_weight", -1.0);
        long numPos = sampling.PosInds.numel(), numNeg = sampling.NegInds.numel();
        if (numPos > 0)
        {
            bboxTargets[sampling.PosInds] = PosBboxTargets(sampling);
            bboxWeights[sampling.PosInds] = 1f;
            labels[sampling.PosInds] = gtLabels is null ? tensor(0L, device: device) : gtLabels[sampling.PosAssignedGtInds];
            labelWeights[sampling.PosInds] = posWeight <= 0 ? 1f : (float)posWeight;
        }
        if (numNeg > 0) labelWeights[sampling.NegInds] = 1f;
        long total = flatAnchors.shape[0];
        return new ImageTargets(BoxTools.Unmap(labels, total, inside, NumClasses), BoxTools.Unmap(labelWeights, total, inside),
            BoxTools.Unmap(bboxTargets, total, inside), BoxTools.Unmap(bboxWeights, total, inside), numPos, numNeg, sampling);
    }

    /// <summary><c>get_targets</c>: every image's anchors (all levels, <paramref name="anchors"/>) assigned and sampled.</summary>
    protected BatchTargets GetTargets(Tensor[] anchors, IReadOnlyList<(long H, long W)> featmapSizes, IReadOnlyList<Tensor> gtBboxes,
        IReadOnlyList<Tensor>? gtLabels, IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor?>? gtBboxesIgnore)
    {
        if (TrainCfg is null || Assigner is null || Sampler is null)
            throw new InvalidOperationException($"{GetType().Name}.Loss needs train_cfg (assigner).");
        using var timed = Profiler.Scope(ProfilerSections.DenseHeadTargets);
        var device = anchors[0].device;
        var numLevel = anchors.Select(a => a.shape[0]).ToList();
        var flatAnchors = cat(anchors, 0);
        var targets = new List<ImageTargets>(imgMetas.Count);
        long numTotalPos = 0, numTotalNeg = 0;
        for (int i = 0; i < imgMetas.Count; i++)
        {
            var valid = cat(AnchorGenerator.ValidFlags(featmapSizes, imgMetas[i].PadShape, device), 0);
            var t = GetTargetsSingle(flatAnchors, valid, numLevel, gtBboxes[i], gtBboxesIgnore?[i], gtLabels?[i], imgMetas[i]);
            targets.Add(t);
            numTotalPos += Math.Max(t.NumPos, 1);
            numTotalNeg += Math.Max(t.NumNeg, 1);
        }
        return new BatchTargets(anchors, numLevel, targets, numTotalPos, numTotalNeg);
    }

    public override LossDict Loss(DenseHeadOutputs outs, IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor>? gtLabels,
        IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor?>? gtBboxesIgnore = null)
    {
        var (clsScores, bboxPreds) = (outs.ClsScores, outs.BboxPreds);
        var targets = GetTargets(clsScores, gtBboxes, gtLabels, imgMetas, gtBboxesIgnore);
        var anchors = targets.Anchors;
        double numTotalSamples = Sampling ? targets.NumTotalPos + targets.NumTotalNeg : targets.NumTotalPos;
        var labelsL = targets.ToLevels(t => t.Labels);
        var labelWeightsL = targets.ToLevels(t => t.LabelWeights);
        var bboxTargetsL = targets.ToLevels(t => t.BboxTargets);
        var bboxWeightsL = targets.ToLevels(t => t.BboxWeights);
        var lossCls = new Tensor[clsScores.Length];
        var lossBbox = new Tensor[clsScores.Length];
        for (int l = 0; l < clsScores.Length; l++)
        {
            var score = clsScores[l].permute(0, 2, 3, 1).reshape(-1, ClsOutChannels);
            lossCls[l] = LossCls.Forward(score, labelsL[l].reshape(-1), labelWeightsL[l].reshape(-1), numTotalSamples);
            var pred = bboxPreds[l].permute(0, 2, 3, 1).reshape(-1, 4);
            if (RegDecodedBbox)
                pred = BboxCoder.Decode(anchors[l].repeat(imgMetas.Count, 1), pred);
            lossBbox[l] = LossBbox.Forward(pred, bboxTargetsL[l].reshape(-1, 4), bboxWeightsL[l].reshape(-1, 4), numTotalSamples);
        }
        var (clsName, bboxName) = LossNames;
        var losses = new LossDict();
        losses.Add(clsName, lossCls);
        losses.Add(bboxName, lossBbox);
        return losses;
    }

    protected override Tensor[] GridPriors(IReadOnlyList<(long H, long W)> featmapSizes, Device device) => AnchorGenerator.GridPriors(featmapSizes, device);

    protected override string ExportGridPriors(OnnxExportContext ctx, string featmap, int level, string name) =>
        AnchorGenerator.ExportGridPriors(ctx, featmap, level, name);

    /// <summary><c>aug_test</c>: <see cref="BaseDenseHead.AugTestBboxes"/>, as MMDetection's AnchorHead.</summary>
    public override DenseDetections AugTest(IReadOnlyList<Tensor[]> feats, IReadOnlyList<ImgMeta> augMetas, bool rescale) =>
        AugTestBboxes(feats, augMetas, rescale);
}

using DetSharp.Config;
using DetSharp.Engine;
using DetSharp.Models.Common;
using DetSharp.Models.Losses;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.DenseHeads;

/// <summary>
/// MMDetection's <c>SSDHead</c> (Liu et al. 2016): per level its own predictors, <c>cls_convs.i</c> (3×3 conv to
/// A_i·(C + 1) softmax logits, background last) and <c>reg_convs.i</c> (3×3 conv to A_i·4 deltas), after
/// <c>stacked_convs</c> optional 3×3 ConvModules (DepthwiseSeparableConvModules with <c>use_depthwise</c>, SSDLite's head,
/// which also puts a depthwise 3×3 ConvModule before 1×1 predictors); A_i, the anchors per position, varies by level
/// (<see cref="TaskModules.SSDAnchorGenerator"/>). No sampler: every anchor is assigned (<c>train_cfg.assigner</c>) and
/// the classification loss takes all positives plus the <c>neg_pos_ratio</c>× as many negatives with the highest
/// cross-entropy (hard negative mining), per image, divided by the batch's positive count; the box loss is smooth L1
/// with <c>train_cfg.smoothl1_beta</c> over the positives, same divisor. Convs are Xavier-uniform initialised, bias 0.
/// </summary>
[Register(Registries.ModelsName, "SSDHead")]
public sealed class SSDHead : AnchorHead
{
    private readonly List<nn.Module<Tensor, Tensor>> _clsConvs = [], _regConvs = [];

    public SSDHead(int numClasses = 80, int[]? inChannels = null, int stackedConvs = 0, int featChannels = 256, bool useDepthwise = false,
        ConfigDict? convCfg = null, ConfigDict? normCfg = null, ConfigDict? actCfg = null, ConfigDict? anchorGenerator = null,
        ConfigDict? bboxCoder = null, bool regDecodedBbox = false, ConfigDict? trainCfg = null, ConfigDict? testCfg = null, object? initCfg = null)
        : base(nameof(SSDHead), Arguments(numClasses, inChannels, featChannels, anchorGenerator, bboxCoder, regDecodedBbox, trainCfg, testCfg, initCfg),
            numClasses, null, sampling: false)
    {
        if (convCfg is not null) throw new DetSharpException("SSDHead: conv_cfg is not supported (only the default Conv2d).");
        var act = ConvModule.Activation(actCfg, "SSDHead");
        InChannelsPerLevel = inChannels ?? [512, 1024, 512, 256, 256, 256];
        var numBase = AnchorGenerator.NumBaseAnchors;
        if (numBase.Length != InChannelsPerLevel.Length)
            throw new DetSharpException($"SSDHead: in_channels has {InChannelsPerLevel.Length} levels but the anchor generator {numBase.Length}.");
        if (trainCfg is not null) NegPosRatio = trainCfg.Get<double>("neg_pos_ratio");
        for (int level = 0; level < InChannelsPerLevel.Length; level++)
        {
            _clsConvs.Add(Predictor(InChannelsPerLevel[level], numBase[level] * ClsOutChannels, stackedConvs, featChannels, useDepthwise, normCfg, act));
            _regConvs.Add(Predictor(InChannelsPerLevel[level], numBase[level] * 4, stackedConvs, featChannels, useDepthwise, normCfg, act));
        }
        register_module("cls_convs", nn.ModuleList(_clsConvs.ToArray()));
        register_module("reg_convs", nn.ModuleList(_regConvs.ToArray()));
    }

    /// <summary>
    /// AnchorHead's arguments for SSD: softmax classification (background last) and smooth L1 with the train_cfg's beta.
    /// <c>in_channels</c> differs per level; AnchorHead's single value is the first level's.
    /// </summary>
    private static AnchorHeadArguments Arguments(int numClasses, int[]? inChannels, int featChannels, ConfigDict? anchorGenerator, ConfigDict? bboxCoder,
        bool regDecodedBbox, ConfigDict? trainCfg, ConfigDict? testCfg, object? initCfg) => new(
        InChannels: inChannels is { Length: > 0 } c ? c[0] : 512,
        NumClasses: numClasses,
        FeatChannels: featChannels,
        AnchorGenerator: anchorGenerator ?? new ConfigDict
        {
            ["type"] = "SSDAnchorGenerator", ["scale_major"] = false, ["input_size"] = 300L,
            ["strides"] = new ConfigList([8L, 16L, 32L, 64L, 100L, 300L]),
            ["ratios"] = new ConfigList([new ConfigList([2L]), new ConfigList([2L, 3L]), new ConfigList([2L, 3L]), new ConfigList([2L, 3L]), new ConfigList([2L]), new ConfigList([2L])]),
            ["basesize_ratio_range"] = new ConfigList([0.1, 0.9]),
        },
        BboxCoder: bboxCoder ?? new ConfigDict
        {
            ["type"] = "DeltaXYWHBBoxCoder", ["clip_border"] = true,
            ["target_means"] = new ConfigList([0.0, 0.0, 0.0, 0.0]), ["target_stds"] = new ConfigList([1.0, 1.0, 1.0, 1.0]),
        },
        RegDecodedBbox: regDecodedBbox,
        LossCls: new ConfigDict { ["type"] = "CrossEntropyLoss", ["use_sigmoid"] = false },
        LossBbox: new ConfigDict { ["type"] = "SmoothL1Loss", ["beta"] = trainCfg?.Get<double>("smoothl1_beta") ?? 1.0 },
        TrainCfg: trainCfg,
        TestCfg: testCfg,
        InitCfg: initCfg);

    /// <summary>
    /// One level's <c>cls_convs.i</c> / <c>reg_convs.i</c>: the stacked convs, with <paramref name="useDepthwise"/> a 3×3
    /// depthwise ConvModule, then the predictor (3×3, or 1×1 after the depthwise conv). Convs Xavier-uniform, bias 0.
    /// </summary>
    private static nn.Module<Tensor, Tensor> Predictor(int inChannels, int outChannels, int stackedConvs, int featChannels, bool useDepthwise,
        ConfigDict? normCfg, (bool WithRelu, bool Relu6) act)
    {
        var layers = new List<nn.Module<Tensor, Tensor>>();
        int channels = inChannels;
        for (int i = 0; i < stackedConvs; i++)
        {
            if (useDepthwise)
            {
                var dw = new DepthwiseSeparableConvModule(channels, featChannels, 3, padding: 1, normCfg: normCfg, withRelu: act.WithRelu, relu6: act.Relu6);
                ModuleTools.XavierUniformInit(dw.Depthwise.Conv);
                ModuleTools.XavierUniformInit(dw.Pointwise.Conv);
                layers.Add(dw);
            }
            else
            {
                var conv = new ConvModule(channels, featChannels, 3, padding: 1, normCfg: normCfg, withRelu: act.WithRelu, relu6: act.Relu6);
                ModuleTools.XavierUniformInit(conv.Conv);
                layers.Add(conv);
            }
            channels = featChannels;
        }
        if (useDepthwise)
        {
            var depthwise = new ConvModule(channels, channels, 3, padding: 1, normCfg: normCfg, withRelu: act.WithRelu, groups: channels, relu6: act.Relu6);
            ModuleTools.XavierUniformInit(depthwise.Conv);
            layers.Add(depthwise);
        }
        var predictor = useDepthwise ? nn.Conv2d(channels, outChannels, 1) : nn.Conv2d(channels, outChannels, 3, padding: 1);
        ModuleTools.XavierUniformInit(predictor);
        layers.Add(predictor);
        return nn.Sequential(layers.Select((m, i) => (i.ToString(System.Globalization.CultureInfo.InvariantCulture), m)));
    }

    /// <summary>Input channels of each level.</summary>
    public int[] InChannelsPerLevel { get; }

    /// <summary><c>train_cfg.neg_pos_ratio</c>: negatives kept per positive in hard negative mining.</summary>
    public double NegPosRatio { get; }

    public override DenseHeadOutputs Forward(IReadOnlyList<Tensor> feats)
    {
        if (feats.Count != _clsConvs.Count)
            throw new ArgumentException($"SSDHead has {_clsConvs.Count} levels but got {feats.Count} feature maps.");
        var cls = new Tensor[feats.Count];
        var reg = new Tensor[feats.Count];
        for (int i = 0; i < feats.Count; i++)
        {
            cls[i] = _clsConvs[i].forward(feats[i]);
            reg[i] = _regConvs[i].forward(feats[i]);
        }
        return new DenseHeadOutputs(cls, reg);
    }

    /// <summary>
    /// SSD's hard negative mining (<c>loss_single</c>'s classification part): the sum of the per-anchor losses of all
    /// positives (labels in [0, <paramref name="numClasses"/>)) plus the largest ⌊min(ratio · #pos, #neg)⌋ losses among
    /// the negatives (label <paramref name="numClasses"/>). Anchors with other labels are left out.
    /// </summary>
    public static Tensor HardNegativeMiningSum(Tensor lossPerAnchor, Tensor labels, int numClasses, double negPosRatio)
    {
        var posInds = nonzero((labels >= 0) & (labels < numClasses)).reshape(-1);
        var negInds = nonzero(labels == numClasses).reshape(-1);
        long numPos = posInds.shape[0];
        // Python's int(ratio · #pos) via min with the negatives available (neg_pos_ratio is an int in every config).
        long numNeg = Math.Min((long)(negPosRatio * numPos), negInds.shape[0]);
        var (topNeg, _) = lossPerAnchor[negInds].topk((int)numNeg);
        return lossPerAnchor[posInds].sum() + topNeg.sum();
    }

    public override LossDict Loss(DenseHeadOutputs outs, IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor>? gtLabels,
        IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor?>? gtBboxesIgnore = null)
    {
        var (clsScores, bboxPreds) = (outs.ClsScores, outs.BboxPreds);
        var (anchors, _, targets, numTotalPos, _) = GetTargets(clsScores, gtBboxes, gtLabels, imgMetas, gtBboxesIgnore);
        int numImages = imgMetas.Count;
        var allCls = cat(clsScores.Select(s => s.permute(0, 2, 3, 1).reshape(numImages, -1, ClsOutChannels)).ToArray(), 1);
        var allPred = cat(bboxPreds.Select(b => b.permute(0, 2, 3, 1).reshape(numImages, -1, 4)).ToArray(), 1);
        var allAnchors = cat(anchors, 0);
        var lossCls = new Tensor[numImages];
        var lossBbox = new Tensor[numImages];
        for (int i = 0; i < numImages; i++)
        {
            var t = targets[i];
            var perAnchor = nn.functional.cross_entropy(allCls[i], t.Labels, reduction: nn.Reduction.None) * t.LabelWeights;
            lossCls[i] = (HardNegativeMiningSum(perAnchor, t.Labels, NumClasses, NegPosRatio) / numTotalPos).unsqueeze(0);
            var pred = RegDecodedBbox ? BboxCoder.Decode(allAnchors, allPred[i]) : allPred[i];
            lossBbox[i] = LossBbox.Forward(pred, t.BboxTargets, t.BboxWeights, numTotalPos);
        }
        return new LossDict { { "loss_cls", lossCls }, { "loss_bbox", lossBbox } };
    }
}

using DetSharp.Config;
using DetSharp.Datasets;
using DetSharp.Engine;
using DetSharp.Models.Common;
using DetSharp.Models.DenseHeads;
using DetSharp.Models.Onnx;
using DetSharp.Models.RoIHeads;
using DetSharp.Registry;
using DetSharp.Structures;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Detectors;

/// <summary>
/// MMDetection's <c>TwoStageDetector</c>: <c>backbone</c> → <c>neck</c> → <c>rpn_head</c> (built with
/// <c>train_cfg.rpn</c>/<c>test_cfg.rpn</c>; training proposals with <c>train_cfg.rpn_proposal</c>) →
/// <c>roi_head</c> (built with <c>train_cfg.rcnn</c>/<c>test_cfg.rcnn</c>).
/// </summary>
[Register(Registries.ModelsName, "TwoStageDetector")]
public class TwoStageDetector : BaseDetector, IOnnxDetector
{
    private readonly RPNHead? _rpnHead;
    private readonly RoIHeadBase? _roiHead;
    private readonly ConfigDict? _trainCfg;
    private readonly ConfigDict? _testCfg;

    public TwoStageDetector(ConfigDict backbone, object? neck = null, ConfigDict? rpnHead = null, ConfigDict? roiHead = null,
        ConfigDict? trainCfg = null, ConfigDict? testCfg = null, string? pretrained = null, object? initCfg = null)
        : this(nameof(TwoStageDetector), backbone, neck, rpnHead, roiHead, trainCfg, testCfg, pretrained, initCfg)
    {
    }

    protected TwoStageDetector(string name, ConfigDict backbone, object? neck, ConfigDict? rpnHead, ConfigDict? roiHead,
        ConfigDict? trainCfg, ConfigDict? testCfg, string? pretrained, object? initCfg)
        : base(name, backbone, neck, pretrained, initCfg)
    {
        _trainCfg = trainCfg;
        _testCfg = testCfg;
        if (rpnHead is not null)
        {
            var cfg = Builders.With(rpnHead, ("train_cfg", trainCfg?.Get<object?>("rpn", null)), ("test_cfg", testCfg?.Get<object?>("rpn", null)));
            _rpnHead = Builders.Model<RPNHead>(cfg);
            register_module("rpn_head", _rpnHead);
        }
        if (roiHead is not null)
        {
            var cfg = Builders.With(roiHead, ("train_cfg", trainCfg?.Get<object?>("rcnn", null)), ("test_cfg", testCfg?.Get<object?>("rcnn", null)));
            // MMDetection hands the deprecated `pretrained` to the RoI head, which passes it to its shared head only.
            if (pretrained is not null) cfg = Builders.With(cfg, ("pretrained", pretrained));
            _roiHead = Builders.Model<RoIHeadBase>(cfg);
            register_module("roi_head", _roiHead);
        }
    }

    public RPNHead RpnHead => _rpnHead ?? throw new InvalidOperationException("this detector has no rpn_head");

    public RoIHeadBase RoiHead => _roiHead ?? throw new InvalidOperationException("this detector has no roi_head");

    public override int NumClasses => _roiHead?.NumClasses ?? 1;

    public override LossDict ForwardTrain(Tensor img, IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor> gtBboxes,
        IReadOnlyList<Tensor> gtLabels, IReadOnlyList<IInstanceMasks>? gtMasks = null, IReadOnlyList<Tensor?>? gtBboxesIgnore = null)
    {
        CheckBatch(img, imgMetas);
        using var scope = NewDisposeScope();
        var (x, auxiliary) = ExtractFeatWithAuxiliary(img);
        var (losses, proposals) = RpnForwardTrain(x, imgMetas, gtBboxes, gtBboxesIgnore);
        foreach (var (k, v) in RoiHead.ForwardTrain(x, imgMetas, proposals, gtBboxes, gtLabels, gtBboxesIgnore, gtMasks, auxiliary).Items)
            losses.Add(k, v);
        return losses.MoveToOuterDisposeScope();
    }

    /// <summary>The RPN's losses and the training proposals (made with <c>train_cfg.rpn_proposal</c>, else <c>test_cfg.rpn</c>).</summary>
    protected (LossDict Losses, List<Tensor> Proposals) RpnForwardTrain(Tensor[] x, IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor> gtBboxes,
        IReadOnlyList<Tensor?>? gtBboxesIgnore)
    {
        var proposalCfg = _trainCfg?.Get<ConfigDict?>("rpn_proposal", null) ?? _testCfg?.Get<ConfigDict>("rpn")
            ?? throw new DetSharpException("TwoStageDetector: train_cfg.rpn_proposal or test_cfg.rpn is required to make training proposals.");
        return RpnHead.ForwardTrain(x, imgMetas, gtBboxes, null, gtBboxesIgnore, proposalCfg);
    }

    /// <summary>RPN proposals per image [N, 5] in input-image coordinates (<c>simple_test_rpn</c>).</summary>
    public List<Tensor> SimpleTestRpn(Tensor[] x, IReadOnlyList<ImgMeta> imgMetas) =>
        RpnHead.SimpleTest(x, imgMetas).ConvertAll(d => d.Dets);

    /// <summary>
    /// <see cref="SimpleTest(Tensor, IReadOnlyList{ImgMeta}, bool)"/> (rescale=False) of one image as ONNX nodes: the
    /// features, the RPN's proposals, the RoI head (standard or cascade). Returns dets [N, 5], labels [N] and, with a mask
    /// head, each detection's mask probabilities [N, h, w] of its class, to be pasted into the image outside the graph
    /// (<see cref="FCNMaskHead.PasteSegMasks"/>).
    /// </summary>
    public virtual OnnxDetections ExportSimpleTest(OnnxExportContext ctx, OnnxImageInputs inputs)
    {
        ctx.RequireExportOf(this, nameof(SimpleTest), nameof(ExportSimpleTest));
        var x = ExportFeatOnnx(ctx, inputs.Img);
        string proposals = RpnHead.ExportProposals(ctx, x, inputs);
        var (dets, labels, masks) = RoiHead switch
        {
            CascadeRoIHead cascade => cascade.ExportSimpleTest(ctx, x, proposals, inputs.BoxMax),
            StandardRoIHead standard => standard.ExportSimpleTest(ctx, x, proposals, inputs.BoxMax),
            var head => throw ctx.Unsupported(head, "this RoI head has no ONNX export"),
        };
        return new OnnxDetections(dets, labels, masks);
    }

    public override List<DetectionResult> SimpleTest(Tensor img, IReadOnlyList<ImgMeta> imgMetas, bool rescale = true)
    {
        CheckBatch(img, imgMetas);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var x = ExtractFeat(img);
        var proposals = SimpleTestRpn(x, imgMetas);
        return RoiHead.SimpleTest(x, proposals, imgMetas, rescale);
    }

    /// <summary>
    /// <c>aug_test</c>: every augmentation's RPN proposals merged in the original image
    /// (<see cref="MergeAugs.MergeAugProposals"/> with test_cfg.rpn), then the RoI head's <c>aug_test</c> on them.
    /// </summary>
    public override DetectionResult AugTest(IReadOnlyList<Tensor> imgs, IReadOnlyList<ImgMeta> augMetas, bool rescale = true)
    {
        CheckAugBatch(imgs, augMetas);
        if (_rpnHead is null) return base.AugTest(imgs, augMetas, rescale);
        var rpnCfg = _testCfg?.Get<ConfigDict?>("rpn", null) ?? throw new DetSharpException($"{GetType().Name}: test-time augmentation needs test_cfg.rpn.");
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var feats = imgs.Select(ExtractFeat).ToList();
        var augProposals = feats.Select((x, a) => SimpleTestRpn(x, [augMetas[a]])[0]).ToList();
        var proposals = MergeAugs.MergeAugProposals(augProposals, augMetas, rpnCfg);
        return RoiHead.AugTest(feats, proposals, augMetas, rescale);
    }
}

/// <summary>MMDetection's <c>FasterRCNN</c> (a <see cref="TwoStageDetector"/>).</summary>
[Register(Registries.ModelsName, "FasterRCNN")]
public sealed class FasterRCNN(ConfigDict backbone, ConfigDict rpnHead, ConfigDict roiHead, ConfigDict? trainCfg = null, ConfigDict? testCfg = null,
    object? neck = null, string? pretrained = null, object? initCfg = null)
    : TwoStageDetector(nameof(FasterRCNN), backbone, neck, rpnHead, roiHead, trainCfg, testCfg, pretrained, initCfg);

/// <summary>MMDetection's <c>MaskRCNN</c> (a <see cref="TwoStageDetector"/>).</summary>
[Register(Registries.ModelsName, "MaskRCNN")]
public sealed class MaskRCNN(ConfigDict backbone, ConfigDict rpnHead, ConfigDict roiHead, ConfigDict? trainCfg = null, ConfigDict? testCfg = null,
    object? neck = null, string? pretrained = null, object? initCfg = null)
    : TwoStageDetector(nameof(MaskRCNN), backbone, neck, rpnHead, roiHead, trainCfg, testCfg, pretrained, initCfg);

/// <summary>MMDetection's <c>CascadeRCNN</c> (a <see cref="TwoStageDetector"/> with a <see cref="CascadeRoIHead"/>).</summary>
[Register(Registries.ModelsName, "CascadeRCNN")]
public sealed class CascadeRCNN(ConfigDict backbone, object? neck = null, ConfigDict? rpnHead = null, ConfigDict? roiHead = null,
    ConfigDict? trainCfg = null, ConfigDict? testCfg = null, string? pretrained = null, object? initCfg = null)
    : TwoStageDetector(nameof(CascadeRCNN), backbone, neck, rpnHead, roiHead, trainCfg, testCfg, pretrained, initCfg);

/// <summary>
/// MMDetection's <c>HybridTaskCascade</c> (HTC): a <see cref="TwoStageDetector"/> with a
/// <see cref="HybridTaskCascadeRoIHead"/>; <see cref="WithSemantic"/> when that head has a semantic branch.
/// </summary>
[Register(Registries.ModelsName, "HybridTaskCascade")]
public sealed class HybridTaskCascade(ConfigDict backbone, ConfigDict? neck = null, ConfigDict? rpnHead = null, ConfigDict? roiHead = null,
    ConfigDict? trainCfg = null, ConfigDict? testCfg = null, string? pretrained = null, object? initCfg = null)
    : TwoStageDetector(nameof(HybridTaskCascade), backbone, neck, rpnHead, roiHead, trainCfg, testCfg, pretrained, initCfg)
{
    public bool WithSemantic => RoiHead is HybridTaskCascadeRoIHead { WithSemantic: true };

    /// <summary>The engine's batch with its <see cref="DetDataBatch.GtSemanticSeg"/> (the collected stuff maps) for the semantic branch.</summary>
    protected override LossDict ForwardTrain(DetDataBatch b, Func<Tensor, Tensor> toDevice) =>
        ForwardTrain(toDevice(b.Img), b.ImgMetas, b.GtBboxes!.Select(toDevice).ToList(), b.GtLabels!.Select(toDevice).ToList(), b.GtMasks,
            b.GtBboxesIgnore?.Select(t => t is null ? null : toDevice(t)).ToList(), b.GtSemanticSeg is null ? null : toDevice(b.GtSemanticSeg));

    /// <summary>
    /// <c>forward_train</c> with the semantic branch's labels: <paramref name="gtSemanticSeg"/> [N, 1, H, W] (the stuff
    /// maps at the semantic head's resolution, as <c>SegRescale</c> makes them), or null for a head without one.
    /// </summary>
    public LossDict ForwardTrain(Tensor img, IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor> gtLabels,
        IReadOnlyList<IInstanceMasks>? gtMasks, IReadOnlyList<Tensor?>? gtBboxesIgnore, Tensor? gtSemanticSeg)
    {
        CheckBatch(img, imgMetas);
        using var scope = NewDisposeScope();
        var (x, auxiliary) = ExtractFeatWithAuxiliary(img);
        var (losses, proposals) = RpnForwardTrain(x, imgMetas, gtBboxes, gtBboxesIgnore);
        var head = RoiHead as HybridTaskCascadeRoIHead ?? throw new DetSharpException($"HybridTaskCascade: roi_head must be a HybridTaskCascadeRoIHead, not {RoiHead.GetType().Name}.");
        foreach (var (k, v) in head.ForwardTrain(x, imgMetas, proposals, gtBboxes, gtLabels, gtBboxesIgnore, gtMasks, gtSemanticSeg, auxiliary).Items)
            losses.Add(k, v);
        return losses.MoveToOuterDisposeScope();
    }
}

/// <summary>MMDetection's <c>MaskScoringRCNN</c> (a <see cref="TwoStageDetector"/> with a <see cref="MaskScoringRoIHead"/>).</summary>
[Register(Registries.ModelsName, "MaskScoringRCNN")]
public sealed class MaskScoringRCNN(ConfigDict backbone, ConfigDict rpnHead, ConfigDict roiHead, ConfigDict? trainCfg = null, ConfigDict? testCfg = null,
    ConfigDict? neck = null, string? pretrained = null, object? initCfg = null)
    : TwoStageDetector(nameof(MaskScoringRCNN), backbone, neck, rpnHead, roiHead, trainCfg, testCfg, pretrained, initCfg);

/// <summary>
/// MMDetection's <c>FastRCNN</c>: a <see cref="TwoStageDetector"/> without an RPN whose RoI head takes precomputed
/// proposals (per image [N, 4] or [N, 5] in input-image coordinates) — <see cref="ForwardTrainWithProposals"/> and
/// <see cref="SimpleTestWithProposals"/>, which the engine calls with a batch's <see cref="DetDataBatch.Proposals"/> (a dataset's
/// <c>proposal_file</c> through <c>LoadProposals</c>); the entry points without proposals say what is missing.
/// </summary>
[Register(Registries.ModelsName, "FastRCNN")]
public sealed class FastRCNN(ConfigDict backbone, ConfigDict roiHead, ConfigDict? trainCfg = null, ConfigDict? testCfg = null,
    object? neck = null, string? pretrained = null, object? initCfg = null)
    : TwoStageDetector(nameof(FastRCNN), backbone, neck, null, roiHead, trainCfg, testCfg, pretrained, initCfg)
{
    private const string NeedsProposals =
        "FastRCNN needs precomputed proposals per image: give the dataset a proposal_file and put LoadProposals in the pipeline "
        + "with 'proposals' in Collect's keys (as fast_rcnn/ configs do), or call ForwardTrainWithProposals / SimpleTestWithProposals.";

    protected override LossDict ForwardTrain(DetDataBatch b, Func<Tensor, Tensor> toDevice) =>
        ForwardTrainWithProposals(toDevice(b.Img), b.ImgMetas, ProposalsOf(b).Select(toDevice).ToList(), b.GtBboxes!.Select(toDevice).ToList(),
            b.GtLabels!.Select(toDevice).ToList(), b.GtMasks, b.GtBboxesIgnore?.Select(t => t is null ? null : toDevice(t)).ToList());

    public override List<DetectionResult> SimpleTest(DetDataBatch batch, bool rescale = true) =>
        SimpleTestWithProposals(batch.Img, batch.ImgMetas, ProposalsOf(batch), rescale);

    private static IReadOnlyList<Tensor> ProposalsOf(DetDataBatch b) => b.Proposals ?? throw new DetSharpException(NeedsProposals);

    public override LossDict ForwardTrain(Tensor img, IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor> gtBboxes,
        IReadOnlyList<Tensor> gtLabels, IReadOnlyList<IInstanceMasks>? gtMasks = null, IReadOnlyList<Tensor?>? gtBboxesIgnore = null) =>
        throw new DetSharpException(NeedsProposals);

    public override List<DetectionResult> SimpleTest(Tensor img, IReadOnlyList<ImgMeta> imgMetas, bool rescale = true) =>
        throw new DetSharpException(NeedsProposals);

    /// <summary><c>forward_train</c> with the given proposals: the RoI head's losses only.</summary>
    public LossDict ForwardTrainWithProposals(Tensor img, IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor> proposals,
        IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor> gtLabels, IReadOnlyList<IInstanceMasks>? gtMasks = null,
        IReadOnlyList<Tensor?>? gtBboxesIgnore = null)
    {
        CheckBatch(img, imgMetas);
        using var scope = NewDisposeScope();
        var (x, auxiliary) = ExtractFeatWithAuxiliary(img);
        var losses = RoiHead.ForwardTrain(x, imgMetas, proposals, gtBboxes, gtLabels, gtBboxesIgnore, gtMasks, auxiliary);
        return losses.MoveToOuterDisposeScope();
    }

    /// <summary><c>simple_test</c> with the given proposals.</summary>
    public List<DetectionResult> SimpleTestWithProposals(Tensor img, IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor> proposals, bool rescale = true)
    {
        CheckBatch(img, imgMetas);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        return RoiHead.SimpleTest(ExtractFeat(img), proposals, imgMetas, rescale);
    }
}

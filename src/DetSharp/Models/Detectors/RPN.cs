using DetSharp.Config;
using DetSharp.Engine;
using DetSharp.Models.Common;
using DetSharp.Models.DenseHeads;
using DetSharp.Registry;
using DetSharp.Structures;
using static TorchSharp.torch;

namespace DetSharp.Models.Detectors;

/// <summary>
/// MMDetection's <c>RPN</c> detector: backbone → neck → <c>rpn_head</c> (built with <c>train_cfg.rpn</c> /
/// <c>test_cfg.rpn</c>). Test results are the proposals (label 0), divided by the scale factor when rescaled.
/// </summary>
[Register(Registries.ModelsName, "RPN")]
public sealed class RPN : BaseDetector
{
    public RPN(ConfigDict backbone, object? neck, ConfigDict rpnHead, ConfigDict? trainCfg = null, ConfigDict? testCfg = null,
        string? pretrained = null, object? initCfg = null)
        : base(nameof(RPN), backbone, neck, pretrained, initCfg)
    {
        var cfg = Builders.With(rpnHead, ("train_cfg", trainCfg?.Get<object?>("rpn", null)), ("test_cfg", testCfg?.Get<object?>("rpn", null)));
        RpnHead = Builders.Model<RPNHead>(cfg);
        register_module("rpn_head", RpnHead);
    }

    public RPNHead RpnHead { get; }

    public override int NumClasses => 1;

    public override LossDict ForwardTrain(Tensor img, IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor> gtBboxes,
        IReadOnlyList<Tensor> gtLabels, IReadOnlyList<IInstanceMasks>? gtMasks = null, IReadOnlyList<Tensor?>? gtBboxesIgnore = null)
    {
        CheckBatch(img, imgMetas);
        using var scope = NewDisposeScope();
        return RpnHead.ForwardTrain(ExtractFeat(img), imgMetas, gtBboxes, null, gtBboxesIgnore).MoveToOuterDisposeScope();
    }

    public override List<DetectionResult> SimpleTest(Tensor img, IReadOnlyList<ImgMeta> imgMetas, bool rescale = true) =>
        SimpleTestDenseHead(RpnHead, img, imgMetas, rescale);
}

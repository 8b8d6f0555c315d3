using DetSharp.Config;
using DetSharp.Engine;
using DetSharp.Models.Common;
using DetSharp.Models.DenseHeads;
using DetSharp.Models.Onnx;
using DetSharp.Registry;
using DetSharp.Structures;
using static TorchSharp.torch;

namespace DetSharp.Models.Detectors;

/// <summary>
/// MMDetection's <c>SingleStageDetector</c>: <c>backbone</c> → <c>neck</c> → <c>bbox_head</c> (a dense head built with
/// the whole <c>train_cfg</c> and <c>test_cfg</c>). Training: the head's losses; test: the head's detections per
/// image, divided by the scale factor when rescaled, grouped by class as <c>bbox2result</c> does.
/// </summary>
[Register(Registries.ModelsName, "SingleStageDetector")]
public class SingleStageDetector : BaseDetector, IOnnxDetector
{
    public SingleStageDetector(ConfigDict backbone, object? neck = null, ConfigDict? bboxHead = null, ConfigDict? trainCfg = null,
        ConfigDict? testCfg = null, string? pretrained = null, object? initCfg = null)
        : this(nameof(SingleStageDetector), backbone, neck, bboxHead, trainCfg, testCfg, pretrained, initCfg)
    {
    }

    protected SingleStageDetector(string name, ConfigDict backbone, object? neck, ConfigDict? bboxHead, ConfigDict? trainCfg,
        ConfigDict? testCfg, string? pretrained, object? initCfg)
        : base(name, backbone, neck, pretrained, initCfg)
    {
        if (bboxHead is null) throw new DetSharpException($"{name}: bbox_head is required.");
        BboxHead = BuildHead(bboxHead, trainCfg, testCfg);
        register_module("bbox_head", BboxHead);
    }

    /// <summary>The dense head of <c>bbox_head</c>, given the detector's whole <c>train_cfg</c> and <c>test_cfg</c> as MMDetection does.</summary>
    public static BaseDenseHead BuildHead(ConfigDict bboxHead, ConfigDict? trainCfg, ConfigDict? testCfg) =>
        Builders.Model<BaseDenseHead>(Builders.With(bboxHead, ("train_cfg", trainCfg), ("test_cfg", testCfg)));

    public BaseDenseHead BboxHead { get; }

    public override int NumClasses => BboxHead.NumClasses;

    public override LossDict ForwardTrain(Tensor img, IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor> gtBboxes,
        IReadOnlyList<Tensor> gtLabels, IReadOnlyList<IInstanceMasks>? gtMasks = null, IReadOnlyList<Tensor?>? gtBboxesIgnore = null)
    {
        CheckBatch(img, imgMetas);
        using var scope = NewDisposeScope();
        return BboxHead.ForwardTrain(ExtractFeat(img), imgMetas, gtBboxes, gtLabels, gtBboxesIgnore).MoveToOuterDisposeScope();
    }

    public override List<DetectionResult> SimpleTest(Tensor img, IReadOnlyList<ImgMeta> imgMetas, bool rescale = true) =>
        SimpleTestDenseHead(BboxHead, img, imgMetas, rescale);

    /// <summary><see cref="SimpleTest"/> of one image as ONNX nodes: the features, then the dense head's detections.</summary>
    public virtual OnnxDetections ExportSimpleTest(OnnxExportContext ctx, OnnxImageInputs inputs)
    {
        ctx.RequireExportOf(this, nameof(SimpleTest), nameof(ExportSimpleTest));
        var (dets, labels) = BboxHead.ExportSimpleTest(ctx, ExportFeatOnnx(ctx, inputs.Img), inputs);
        return new OnnxDetections(dets, labels);
    }

    /// <summary><c>aug_test</c>: every augmentation's features through the dense head's <see cref="BaseDenseHead.AugTest"/>.</summary>
    public override DetectionResult AugTest(IReadOnlyList<Tensor> imgs, IReadOnlyList<ImgMeta> augMetas, bool rescale = true)
    {
        CheckAugBatch(imgs, augMetas);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var dets = BboxHead.AugTest(imgs.Select(ExtractFeat).ToList(), augMetas, rescale);
        return DetectionResult.FromTensors(dets.Dets, dets.Labels, null, NumClasses);
    }
}

/// <summary>MMDetection's <c>RetinaNet</c> (a <see cref="SingleStageDetector"/>, usually with a <see cref="RetinaHead"/>).</summary>
[Register(Registries.ModelsName, "RetinaNet")]
public sealed class RetinaNet(ConfigDict backbone, object neck, ConfigDict bboxHead, ConfigDict? trainCfg = null, ConfigDict? testCfg = null,
    string? pretrained = null, object? initCfg = null)
    : SingleStageDetector(nameof(RetinaNet), backbone, neck, bboxHead, trainCfg, testCfg, pretrained, initCfg);

/// <summary>MMDetection's <c>FCOS</c> (a <see cref="SingleStageDetector"/>, usually with an <see cref="FCOSHead"/>).</summary>
[Register(Registries.ModelsName, "FCOS")]
public sealed class FCOS(ConfigDict backbone, object neck, ConfigDict bboxHead, ConfigDict? trainCfg = null, ConfigDict? testCfg = null,
    string? pretrained = null, object? initCfg = null)
    : SingleStageDetector(nameof(FCOS), backbone, neck, bboxHead, trainCfg, testCfg, pretrained, initCfg);

/// <summary>MMDetection's <c>ATSS</c> (a <see cref="SingleStageDetector"/>, usually with an <see cref="ATSSHead"/>).</summary>
[Register(Registries.ModelsName, "ATSS")]
public sealed class ATSS(ConfigDict backbone, object neck, ConfigDict bboxHead, ConfigDict? trainCfg = null, ConfigDict? testCfg = null,
    string? pretrained = null, object? initCfg = null)
    : SingleStageDetector(nameof(ATSS), backbone, neck, bboxHead, trainCfg, testCfg, pretrained, initCfg);

/// <summary>MMDetection's <c>GFL</c> (a <see cref="SingleStageDetector"/>, usually with a <see cref="GFLHead"/>).</summary>
[Register(Registries.ModelsName, "GFL")]
public sealed class GFL(ConfigDict backbone, object neck, ConfigDict bboxHead, ConfigDict? trainCfg = null, ConfigDict? testCfg = null,
    string? pretrained = null, object? initCfg = null)
    : SingleStageDetector(nameof(GFL), backbone, neck, bboxHead, trainCfg, testCfg, pretrained, initCfg);

/// <summary>MMDetection's <c>VFNet</c> (VarifocalNet; a <see cref="SingleStageDetector"/>, usually with a <see cref="VFNetHead"/>).</summary>
[Register(Registries.ModelsName, "VFNet")]
public sealed class VFNet(ConfigDict backbone, object neck, ConfigDict bboxHead, ConfigDict? trainCfg = null, ConfigDict? testCfg = null,
    string? pretrained = null, object? initCfg = null)
    : SingleStageDetector(nameof(VFNet), backbone, neck, bboxHead, trainCfg, testCfg, pretrained, initCfg);

using DetSharp.Config;
using DetSharp.Datasets;
using DetSharp.Engine;
using DetSharp.Models.Common;
using DetSharp.Models.Necks;
using DetSharp.Models.Weights;
using DetSharp.Structures;
using DetSharp.Utils;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Detectors;

/// <summary>
/// MMDetection's <c>BaseDetector</c>: the <c>backbone</c> (+ <c>neck</c>) every detector has and
/// <see cref="ExtractFeat"/> over them, the engine's entry (<see cref="ForwardTrain(IDataBatch)"/>), and the contract
/// of the detector families: training losses and single-scale test results. The families are
/// <see cref="SingleStageDetector"/> (a dense head on the features), <see cref="TwoStageDetector"/> (RPN + RoI head)
/// and <see cref="RPN"/>.
/// </summary>
public abstract class BaseDetector : nn.Module, ITrainableDetector, IHasInitCfg
{
    private readonly nn.Module<Tensor, Tensor[]> _backbone;
    private readonly nn.Module<Tensor[], Tensor[]>? _neck;

    /// <summary>
    /// Builds and registers <c>backbone</c> and <c>neck</c> (in that order, as MMDetection's state dicts list them).
    /// The deprecated <c>pretrained</c> argument is handed to the backbone, as MMDetection 2.x does.
    /// </summary>
    protected BaseDetector(string name, ConfigDict backbone, object? neck, string? pretrained, object? initCfg)
        : base(name)
    {
        InitCfg = initCfg;
        if (pretrained is not null) backbone = Builders.With(backbone, ("pretrained", pretrained));
        _backbone = Builders.Model<nn.Module<Tensor, Tensor[]>>(backbone);
        register_module("backbone", _backbone);
        if (neck is not null)
        {
            _neck = NeckSequence.Build(neck);
            register_module("neck", _neck);
        }
    }

    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    public nn.Module<Tensor, Tensor[]> Backbone => _backbone;

    public nn.Module<Tensor[], Tensor[]>? Neck => _neck;

    /// <summary>The detector's own <c>init_cfg</c> (e.g. 'Pretrained' with a <c>prefix</c>), applied by <see cref="PretrainedInit"/>.</summary>
    public object? InitCfg { get; }

    /// <summary>Number of object classes the model predicts.</summary>
    public abstract int NumClasses { get; }

    /// <summary><c>extract_feat</c>: backbone (+ neck) features of a batch [B, 3, H, W].</summary>
    public Tensor[] ExtractFeat(Tensor img) => ExtractFeatWithAuxiliary(img).Feats;

    /// <summary>
    /// The features and, from a neck with an auxiliary branch (<see cref="IAuxiliaryNeck"/>: AugFPN's Consistent
    /// Supervision in training), its auxiliary maps; null otherwise.
    /// </summary>
    public (Tensor[] Feats, Tensor[]? Auxiliary) ExtractFeatWithAuxiliary(Tensor img)
    {
        Tensor[] x;
        using (Profiler.Scope(ProfilerSections.Backbone))
        {
            if (!ChannelsLastFeatures) x = _backbone.forward(img);
            else
            {
                using var nhwc = Utils.ChannelsLast.Contiguous(img);
                x = _backbone.forward(nhwc);
            }
        }
        if (_neck is null) return (ToHeadLayout(x), null);
        using var scope = NewDisposeScope();
        using var timed = Profiler.Scope(ProfilerSections.Neck);
        var (y, aux) = _neck is IAuxiliaryNeck auxNeck ? auxNeck.ForwardWithAuxiliary(x) : (_neck.forward(x), null);
        y = ToHeadLayout(y);
        foreach (var t in y) t.MoveToOuterDisposeScope();
        if (aux is not null)
        {
            aux = ToHeadLayout(aux);
            foreach (var t in aux) t.MoveToOuterDisposeScope();
        }
        return (y, aux);
    }

    /// <summary>The heads take the features in the usual (NCHW) layout, whatever the backbone and neck ran in.</summary>
    private Tensor[] ToHeadLayout(Tensor[] maps) => ChannelsLastFeatures ? [.. maps.Select(m => m.contiguous())] : maps;

    /// <summary>
    /// Whether the backbone and neck run in channels-last memory format (<see cref="Utils.ChannelsLast"/>), set by
    /// <see cref="UseChannelsLast"/>: their convolution weights are laid out NHWC and <see cref="ExtractFeat"/> feeds them
    /// the image so; the features reach the heads in the usual layout.
    /// </summary>
    public bool ChannelsLastFeatures { get; private set; }

    /// <summary>
    /// Runs the backbone and neck in channels-last memory format, oneDNN's native layout on the CPU — the same
    /// computation without a reorder around every convolution (issue 26: a bfloat16 training iteration of Mask R-CNN
    /// R-50 at 1333×800 took 0.7× the time) — when the model is on the CPU and its backbone and neck are made only of the
    /// layers checked in that layout: ResNet / ResNeXt (no plugins, no deformable convolutions), FPN / AugFPN,
    /// ConvModule and libtorch's own layers. Returns whether it did (a model that does not qualify is left as it is).
    /// Call it after the model is on its device; weights loaded later (copy_) keep the layout, checkpoints are written
    /// contiguous.
    /// </summary>
    public bool UseChannelsLast()
    {
        if (ChannelsLastFeatures) return true;
        if (parameters().FirstOrDefault() is { } p && p.device.type != DeviceType.CPU) return false;
        if (_backbone.GetType() != typeof(Backbones.ResNet) && _backbone is not Backbones.ResNeXt) return false;
        if (_neck is not null && _neck.GetType() != typeof(FPN) && _neck is not AugFPN) return false;
        foreach (var part in new nn.Module?[] { _backbone, _neck })
        {
            if (part is null) continue;
            foreach (var (_, m) in part.named_modules())
                if (!ChannelsLastLayer(m)) return false;
        }
        using var noGrad = no_grad();
        foreach (var part in new nn.Module?[] { _backbone, _neck })
        {
            if (part is null) continue;
            foreach (var weight in part.parameters())
            {
                if (weight.dim() != 4) continue;
                using var nhwc = Utils.ChannelsLast.Contiguous(weight);
                weight.set_(nhwc);
            }
        }
        ChannelsLastFeatures = true;
        return true;
    }

    private static bool ChannelsLastLayer(nn.Module m) =>
        m is Backbones.ResNet or Backbones.Bottleneck or Backbones.BasicBlock or FPN or ConvModule or Common.BatchNorm2d
        || m.GetType().Namespace == typeof(TorchSharp.Modules.Conv2d).Namespace;

    /// <summary>
    /// mmcv's <c>fp16_enabled</c> (set by <c>wrap_fp16_model</c>): the dtype the engine's and the inference API's forward
    /// passes autocast to (<see cref="EnterAutocast"/>), from the config's <c>fp16</c> / <c>mixed_precision</c>
    /// (<see cref="MixedPrecision"/>); null runs float32. Direct calls of <c>ForwardTrain(img, ...)</c> and
    /// <c>SimpleTest</c> run as their caller's region says.
    /// </summary>
    public ScalarType? AutocastDtype { get; set; }

    /// <summary>An autocast region in <see cref="AutocastDtype"/> on <paramref name="device"/>, or null without mixed precision.</summary>
    public Autocast? EnterAutocast(Device device) => AutocastDtype is { } dtype ? Autocast.Enter(device, dtype) : null;

    /// <summary>
    /// <see cref="ExtractFeat"/> as ONNX nodes: the backbone's, then the neck's export (each module writes itself, see
    /// <see cref="Onnx.IOnnxExportable"/>); in eval mode an auxiliary neck's features are its plain forward's.
    /// </summary>
    public IReadOnlyList<string> ExportFeatOnnx(Onnx.OnnxExportContext ctx, string img)
    {
        var x = ctx.Forward(_backbone, [img]);
        return _neck is null ? x : ctx.Forward(_neck, x);
    }

    /// <summary>The engine's entry (<c>train_step</c>'s forward): a collated <see cref="DetDataBatch"/>, moved to the model's device.</summary>
    public LossDict ForwardTrain(IDataBatch batch)
    {
        if (batch is not DetDataBatch b)
            throw new ArgumentException($"{GetType().Name} trains on DetDataBatch batches (DetSharp.Datasets.DetCollate), got {batch.GetType().Name}.");
        if (b.GtBboxes is null || b.GtLabels is null)
            throw new DetSharpException("the training batch has no ground truth: the train pipeline must collect gt_bboxes and gt_labels.");
        var device = parameters().FirstOrDefault()?.device ?? CPU;
        using var autocast = EnterAutocast(device);
        if (device.type == DeviceType.CPU) return ForwardTrain(b, t => t);
        using var scope = NewDisposeScope();
        return ForwardTrain(b, t => t.to(device)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// <c>forward_train</c> on a batch, its tensors moved by <paramref name="toDevice"/>; detectors that take more inputs
    /// from the batch (FastRCNN's proposals) override it.
    /// </summary>
    protected virtual LossDict ForwardTrain(DetDataBatch b, Func<Tensor, Tensor> toDevice) =>
        ForwardTrain(toDevice(b.Img), b.ImgMetas, b.GtBboxes!.Select(toDevice).ToList(), b.GtLabels!.Select(toDevice).ToList(),
            b.GtMasks, b.GtBboxesIgnore?.Select(t => t is null ? null : toDevice(t)).ToList());

    /// <summary>
    /// <c>simple_test</c> on a collated test batch (on the model's device); detectors that take more inputs from the batch
    /// (FastRCNN's proposals) override it.
    /// </summary>
    public virtual List<DetectionResult> SimpleTest(DetDataBatch batch, bool rescale = true) => SimpleTest(batch.Img, batch.ImgMetas, rescale);

    /// <summary>
    /// <c>forward_train</c>: the losses under MMDetection's names (dense-head losses as per-level lists). GT boxes are
    /// [n_i, 4] float (x1, y1, x2, y2) in input-image coordinates, labels [n_i] int64 (0-based).
    /// </summary>
    public abstract LossDict ForwardTrain(Tensor img, IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor> gtBboxes,
        IReadOnlyList<Tensor> gtLabels, IReadOnlyList<IInstanceMasks>? gtMasks = null, IReadOnlyList<Tensor?>? gtBboxesIgnore = null);

    /// <summary><c>simple_test</c>: detections per image, in original-image coordinates when <paramref name="rescale"/>.</summary>
    public abstract List<DetectionResult> SimpleTest(Tensor img, IReadOnlyList<ImgMeta> imgMetas, bool rescale = true);

    /// <summary>
    /// <c>aug_test</c> for one image seen through several augmentations (MultiScaleFlipAug with several img_scale or
    /// flip=True): <paramref name="imgs"/> [1, 3, H_a, W_a] and <paramref name="augMetas"/> per augmentation; one result
    /// in original-image coordinates when <paramref name="rescale"/>. Detectors without it refuse.
    /// </summary>
    public virtual DetectionResult AugTest(IReadOnlyList<Tensor> imgs, IReadOnlyList<ImgMeta> augMetas, bool rescale = true) =>
        throw new DetSharpException($"{GetType().Name} has no test-time augmentation in DetSharp ({imgs.Count} views from MultiScaleFlipAug); "
                                    + "use one img_scale and flip=False in the test pipeline, or a detector that has it (Faster/Mask R-CNN, Cascade R-CNN, HTC, dense-head detectors as RetinaNet, FCOS, ATSS, GFL).");

    /// <summary>Checks <c>aug_test</c>'s inputs: one image per augmentation, as many metas as views.</summary>
    protected static void CheckAugBatch(IReadOnlyList<Tensor> imgs, IReadOnlyList<ImgMeta> augMetas)
    {
        if (imgs.Count != augMetas.Count)
            throw new ArgumentException($"aug_test: {imgs.Count} augmented images but {augMetas.Count} img_metas were given.");
        foreach (var img in imgs)
        {
            CheckBatch(img, [augMetas[0]]);
        }
    }

    /// <summary>
    /// <c>simple_test</c> of a detector whose results come from one dense head (a one-stage detector's bbox_head, the RPN
    /// detector's rpn_head): the head's detections per image, grouped by class as <c>bbox2result</c> does.
    /// </summary>
    protected List<DetectionResult> SimpleTestDenseHead(DenseHeads.BaseDenseHead head, Tensor img, IReadOnlyList<ImgMeta> imgMetas, bool rescale)
    {
        CheckBatch(img, imgMetas);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var dets = head.SimpleTest(ExtractFeat(img), imgMetas, rescale);
        var results = new List<DetectionResult>(dets.Count);
        foreach (var d in dets) results.Add(DetectionResult.FromTensors(d.Dets, d.Labels, null, NumClasses));
        return results;
    }

    protected static void CheckBatch(Tensor img, IReadOnlyList<ImgMeta> imgMetas)
    {
        if (img.dim() != 4 || img.shape[1] != 3)
            throw new ArgumentException($"img must be [B, 3, H, W], got [{string.Join(", ", img.shape)}].");
        if (img.shape[0] != imgMetas.Count)
            throw new ArgumentException($"img has {img.shape[0]} images but {imgMetas.Count} img_metas were given.");
    }
}

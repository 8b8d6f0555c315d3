using DetSharp.Datasets;
using DetSharp.Engine;
using DetSharp.Models.Common;
using DetSharp.Structures;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Detectors;

/// <summary>MMDetection's <c>BaseDetector</c> contract: training losses and single-scale test results.</summary>
public abstract class BaseDetector(string name) : nn.Module(name), ITrainableDetector
{
    /// <summary>The engine's entry (<c>train_step</c>'s forward): a collated <see cref="DetDataBatch"/>, moved to the model's device.</summary>
    public LossDict ForwardTrain(IDataBatch batch)
    {
        if (batch is not DetDataBatch b)
            throw new ArgumentException($"{GetType().Name} trains on DetDataBatch batches (DetSharp.Datasets.DetCollate), got {batch.GetType().Name}.");
        if (b.GtBboxes is null || b.GtLabels is null)
            throw new DetSharpException("the training batch has no ground truth: the train pipeline must collect gt_bboxes and gt_labels.");
        var device = parameters().FirstOrDefault()?.device ?? CPU;
        if (device.type == DeviceType.CPU)
            return ForwardTrain(b.Img, b.ImgMetas, b.GtBboxes, b.GtLabels, b.GtMasks, b.GtBboxesIgnore);
        using var scope = NewDisposeScope();
        var losses = ForwardTrain(b.Img.to(device), b.ImgMetas, b.GtBboxes.Select(t => t.to(device)).ToList(), b.GtLabels.Select(t => t.to(device)).ToList(),
            b.GtMasks, b.GtBboxesIgnore?.Select(t => t?.to(device)).ToList());
        return losses.MoveToOuterDisposeScope();
    }

    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    /// <summary>Backbone (+ neck) features of a batch [B, 3, H, W].</summary>
    public abstract Tensor[] ExtractFeat(Tensor img);

    /// <summary>
    /// <c>forward_train</c>: the losses under MMDetection's names (RPN losses as per-level lists). GT boxes are
    /// [n_i, 4] float (x1, y1, x2, y2) in input-image coordinates, labels [n_i] int64 (0-based).
    /// </summary>
    public abstract LossDict ForwardTrain(Tensor img, IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor> gtBboxes,
        IReadOnlyList<Tensor> gtLabels, IReadOnlyList<IInstanceMasks>? gtMasks = null, IReadOnlyList<Tensor?>? gtBboxesIgnore = null);

    /// <summary><c>simple_test</c>: detections per image, in original-image coordinates when <paramref name="rescale"/>.</summary>
    public abstract List<DetectionResult> SimpleTest(Tensor img, IReadOnlyList<ImgMeta> imgMetas, bool rescale = true);

    /// <summary>Number of object classes the model predicts.</summary>
    public abstract int NumClasses { get; }

    protected static void CheckBatch(Tensor img, IReadOnlyList<ImgMeta> imgMetas)
    {
        if (img.dim() != 4 || img.shape[1] != 3)
            throw new ArgumentException($"img must be [B, 3, H, W], got [{string.Join(", ", img.shape)}].");
        if (img.shape[0] != imgMetas.Count)
            throw new ArgumentException($"img has {img.shape[0]} images but {imgMetas.Count} img_metas were given.");
    }
}

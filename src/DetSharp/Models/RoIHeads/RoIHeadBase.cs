using DetSharp.Engine;
using DetSharp.Models.Common;
using DetSharp.Models.Detectors;
using DetSharp.Structures;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.RoIHeads;

/// <summary>The second stage of a two-stage detector (MMDetection's <c>BaseRoIHead</c>).</summary>
public abstract class RoIHeadBase(string name) : nn.Module(name)
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    /// <summary>Whether the head predicts masks.</summary>
    public abstract bool WithMask { get; }

    /// <summary>Number of object classes.</summary>
    public abstract int NumClasses { get; }

    /// <summary>
    /// Lateral maps for AugFPN's Consistent Supervision, set by the detector for one training step (null otherwise).
    /// </summary>
    public Tensor[]? AuxiliaryFeatures { get; set; }

    /// <summary>Training losses for the proposals of each image.</summary>
    public abstract LossDict ForwardTrain(Tensor[] x, IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor> proposals,
        IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor> gtLabels, IReadOnlyList<Tensor?>? gtBboxesIgnore, IReadOnlyList<IInstanceMasks>? gtMasks);

    /// <summary>Detections per image (<c>simple_test</c>).</summary>
    public abstract List<DetectionResult> SimpleTest(Tensor[] x, IReadOnlyList<Tensor> proposals, IReadOnlyList<ImgMeta> imgMetas, bool rescale);

    /// <summary>Converts per-image dets/labels (and masks) into results in <c>bbox2result</c> order.</summary>
    protected static DetectionResult ToResult(Tensor dets, Tensor labels, Rle[]? masks, int numClasses)
    {
        // TorchSharp's TensorAccessor.ToArray throws on an empty tensor: an image with no detections (an early
        // checkpoint) must give an empty result, not stop the evaluation.
        var d = dets.numel() == 0 ? [] : dets.to(CPU).contiguous().data<float>().ToArray();
        var l = labels.numel() == 0 ? [] : labels.to(CPU).to_type(ScalarType.Int64).contiguous().data<long>().ToArray().Select(v => (int)v).ToArray();
        return DetectionResult.GroupByClass(d, l, masks, numClasses);
    }

    /// <summary>Sorts out what a bbox test produced for <see cref="ToResult"/> when there are no masks.</summary>
    protected static List<Tensor> Split(Tensor t, IReadOnlyList<long> sizes)
    {
        var list = new List<Tensor>();
        long start = 0;
        foreach (var s in sizes)
        {
            list.Add(t[(int)start..(int)(start + s)]);
            start += s;
        }
        return list;
    }
}

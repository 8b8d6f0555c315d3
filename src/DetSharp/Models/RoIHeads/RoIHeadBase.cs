using DetSharp.Config;
using DetSharp.Engine;
using DetSharp.Models.Detectors;
using DetSharp.Models.Weights;
using DetSharp.Structures;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.RoIHeads;

/// <summary>
/// MMDetection's <c>BaseRoIHead</c> constructor arguments, read from the roi_head dict; RoI heads take them as one
/// <see cref="Registry.InheritedArgumentsAttribute"/> parameter. The branches are dicts (or, for a cascade, a dict
/// per stage or one dict for all); <c>pretrained</c> is MMDetection's, for a shared head.
/// </summary>
public sealed record RoIHeadArguments(
    object? BboxRoiExtractor = null,
    object? BboxHead = null,
    object? MaskRoiExtractor = null,
    object? MaskHead = null,
    ConfigDict? SharedHead = null,
    object? TrainCfg = null,
    ConfigDict? TestCfg = null,
    string? Pretrained = null,
    object? InitCfg = null,
    double AuxLossWeight = 0.25);

/// <summary>The second stage of a two-stage detector (MMDetection's <c>BaseRoIHead</c>).</summary>
public abstract class RoIHeadBase : nn.Module, IHasInitCfg
{
    protected RoIHeadBase(string name, RoIHeadArguments args)
        : base(name)
    {
        if (args.SharedHead is not null)
        {
            // MMDetection hands `pretrained` to the shared head only, so without one it has no effect.
            var cfg = args.Pretrained is null ? args.SharedHead : Common.Builders.With(args.SharedHead, ("pretrained", args.Pretrained));
            SharedHead = Common.Builders.Model<nn.Module<Tensor, Tensor>>(cfg);
            register_module("shared_head", SharedHead);
        }
        InitCfg = args.InitCfg;
        TestCfg = args.TestCfg;
        AuxLossWeight = args.AuxLossWeight;
    }

    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    public object? InitCfg { get; }

    /// <summary><c>shared_head</c>: run on the pooled RoI features before the bbox and mask heads (the C4 models' res5), or null.</summary>
    public nn.Module<Tensor, Tensor>? SharedHead { get; }

    protected ConfigDict? TestCfg { get; }

    /// <summary>Weight of AugFPN's Consistent Supervision losses (used only when the neck provides auxiliary maps).</summary>
    public double AuxLossWeight { get; }

    /// <summary>Whether the head predicts masks.</summary>
    public abstract bool WithMask { get; }

    /// <summary>Number of object classes.</summary>
    public abstract int NumClasses { get; }

    /// <summary>
    /// Training losses for the proposals of each image. <paramref name="auxiliary"/>: the neck's auxiliary maps
    /// (AugFPN's lateral maps for Consistent Supervision), or null.
    /// </summary>
    public abstract LossDict ForwardTrain(Tensor[] x, IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor> proposals,
        IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor> gtLabels, IReadOnlyList<Tensor?>? gtBboxesIgnore, IReadOnlyList<IInstanceMasks>? gtMasks,
        Tensor[]? auxiliary = null);

    /// <summary>Detections per image (<c>simple_test</c>).</summary>
    public abstract List<DetectionResult> SimpleTest(Tensor[] x, IReadOnlyList<Tensor> proposals, IReadOnlyList<ImgMeta> imgMetas, bool rescale);

    /// <summary>
    /// <c>aug_test</c> for one image: <paramref name="feats"/> and <paramref name="augMetas"/> per augmentation,
    /// <paramref name="proposals"/> [n, 5] already merged in original-image coordinates. Heads without it refuse.
    /// </summary>
    public virtual DetectionResult AugTest(IReadOnlyList<Tensor[]> feats, Tensor proposals, IReadOnlyList<ImgMeta> augMetas, bool rescale) =>
        throw new DetSharpException($"{GetType().Name} has no test-time augmentation in DetSharp (MultiScaleFlipAug with several img_scale or flip=True); "
                                    + "use one img_scale and flip=False in the test pipeline, or a StandardRoIHead model (Faster/Mask R-CNN).");

    /// <summary>Cuts a tensor of all images' rows into each image's (sizes in image order).</summary>
    internal static List<Tensor> Split(Tensor t, IReadOnlyList<long> sizes)
    {
        var list = new List<Tensor>(sizes.Count);
        long start = 0;
        foreach (var s in sizes)
        {
            list.Add(t[(int)start..(int)(start + s)]);
            start += s;
        }
        return list;
    }

    /// <summary>The empty detections of an image without proposals.</summary>
    protected static (Tensor Dets, Tensor Labels) NoDetections() => (zeros(0, 5), zeros(0, ScalarType.Int64));

    protected ConfigDict RequireTestCfg() => TestCfg ?? throw new InvalidOperationException($"{GetType().Name}.SimpleTest needs test_cfg.");
}

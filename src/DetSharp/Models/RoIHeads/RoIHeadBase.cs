using DetSharp.Config;
using DetSharp.Engine;
using DetSharp.Models.Common;
using DetSharp.Models.Detectors;
using DetSharp.Models.Weights;
using DetSharp.Ops;
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
                                    + "use one img_scale and flip=False in the test pipeline, or a StandardRoIHead, CascadeRoIHead or HybridTaskCascadeRoIHead model.");

    /// <summary>
    /// The end of an RoI head's <c>aug_test</c> boxes: every augmentation's boxes [n, 4k] and scores [n, C+1] (the same
    /// proposals, row for row) averaged in the original image (<see cref="MergeAugs.MergeAugBboxes"/>), then multiclass
    /// NMS with test_cfg's score_thr, nms and max_per_img.
    /// </summary>
    protected static (Tensor Dets, Tensor Labels) MergeAugDetections(IReadOnlyList<Tensor> augBboxes, IReadOnlyList<Tensor> augScores,
        IReadOnlyList<ImgMeta> augMetas, ConfigDict cfg)
    {
        var (bboxes, scores) = MergeAugs.MergeAugBboxes(augBboxes, augScores, augMetas);
        if (bboxes.shape[0] == 0) return NoDetections();
        var r = Nms.MulticlassNms(bboxes, scores, cfg.Get<double>("score_thr"), Builders.Nms(cfg.Get<ConfigDict>("nms")), cfg.Get("max_per_img", -1));
        return (r.Dets, r.Labels);
    }

    /// <summary>
    /// The masks of an RoI head's <c>aug_test</c>: the kept boxes (original image) mapped into every augmentation, where
    /// <paramref name="maskProbs"/>(augmentation, RoIs) gives the sigmoid masks [n, C, m, m]; those averaged, flipped ones
    /// flipped back (<see cref="MergeAugs.MergeAugMasks"/>), and pasted at scale 1 into the original image.
    /// </summary>
    protected static Rle[] AugTestMasks(FCNMaskHead maskHead, Tensor dets, Tensor labels, IReadOnlyList<ImgMeta> augMetas, ConfigDict cfg,
        Func<int, Tensor, Tensor> maskProbs)
    {
        if (dets.shape[0] == 0) return [];
        var augMasks = augMetas.Select((meta, a) => maskProbs(a, BoxTools.Bbox2Roi([MergeAugs.BboxMapping(dets[.., 0..4], meta)]))).ToList();
        var merged = MergeAugs.MergeAugMasks(augMasks, augMetas);
        return maskHead.GetSegMasks(merged, dets[.., 0..4], labels, cfg.Get("mask_thr_binary", 0.5), augMetas[0] with { ScaleFactor = [1f, 1f, 1f, 1f] },
            rescale: false);
    }

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

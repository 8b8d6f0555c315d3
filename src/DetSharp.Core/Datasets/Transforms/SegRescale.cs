using DetSharp.Registry;

namespace DetSharp.Datasets.Transforms;

/// <summary>
/// MMDetection's <c>SegRescale</c> (HTC's train pipeline): rescales every map of <c>seg_fields</c> by
/// <c>scale_factor</c> with nearest interpolation, to the semantic head's resolution. Samples without segmentation maps
/// (<c>LoadAnnotations(with_seg=False)</c>, HTC trained without its semantic branch) pass unchanged, as in MMDetection.
/// Loading segmentation maps is not supported yet, so a sample that has some is refused.
/// </summary>
[Register(Registries.PipelinesName, "SegRescale")]
public sealed class SegRescale : IPipelineTransform
{
    public SegRescale(double scaleFactor = 1, string backend = "cv2")
    {
        if (scaleFactor <= 0) throw new DetSharpException($"SegRescale: scale_factor must be positive, got {scaleFactor}.");
        if (backend is not ("cv2" or "pillow")) throw new DetSharpException($"SegRescale: backend '{backend}' must be 'cv2' or 'pillow'.");
        ScaleFactor = scaleFactor;
    }

    public double ScaleFactor { get; }

    public DetSample? Apply(DetSample sample, Random rng)
    {
        if (sample.SegFields.Count > 0 && ScaleFactor != 1)
        {
            throw new DetSharpException($"SegRescale: segmentation maps ({string.Join(", ", sample.SegFields)}) are not supported yet; train without "
                + "them (LoadAnnotations with_seg=False, e.g. HTC with --cfg-options model.roi_head.semantic_roi_extractor=None model.roi_head.semantic_head=None).");
        }
        return sample;
    }
}

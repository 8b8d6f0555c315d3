using DetSharp.Registry;

namespace DetSharp.Datasets.Transforms;

/// <summary>
/// MMDetection's <c>SegRescale</c> (HTC's train pipeline): rescales every map of <c>seg_fields</c> by
/// <c>scale_factor</c> with nearest interpolation (mmcv's <c>imrescale</c>), to the semantic head's resolution. Samples
/// without segmentation maps (<c>LoadAnnotations(with_seg=False)</c>, HTC trained without its semantic branch) pass
/// unchanged, as in MMDetection.
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
        if (ScaleFactor == 1) return sample;
        foreach (var key in sample.SegFields)
        {
            var seg = sample.GetSeg(key);
            if (seg is not null) sample.SetSeg(key, seg.Rescale(ScaleFactor));
        }
        return sample;
    }
}

using DetSharp.Registry;
using OpenCvSharp;

namespace DetSharp.Datasets.Transforms;

/// <summary>
/// MMDetection's <c>Expand</c> (SSD's zoom-out): with probability <c>prob</c>, the image is placed on a canvas
/// ⌊h·r⌋ × ⌊w·r⌋ (r uniform in <c>ratio_range</c>) filled with <c>mean</c> (reversed to BGR when <c>to_rgb</c>; on a
/// uint8 image truncated as numpy casts, 123.675 → 123) at offset (⌊uniform(0, w·r − w)⌋, ⌊uniform(0, h·r − h)⌋), and the
/// boxes shifted by it. Draws, in order: the probability, r, left, top. Instance masks and segmentation maps are not
/// supported yet (SSD's pipelines load boxes only) and are refused.
/// </summary>
[Register(Registries.PipelinesName, "Expand")]
public sealed class Expand : IPipelineTransform
{
    private readonly double[] _mean;
    private readonly double _minRatio, _maxRatio, _prob;

    public Expand(IReadOnlyList<double>? mean = null, bool toRgb = true, IReadOnlyList<double>? ratioRange = null, int? segIgnoreLabel = null,
        double prob = 0.5)
    {
        _ = segIgnoreLabel; // only used for seg_fields, which are refused when present
        var m = mean ?? [0.0, 0.0, 0.0];
        if (m.Count != 3) throw new DetSharpException($"Expand: mean must have 3 values, got {m.Count}.");
        _mean = toRgb ? [m[2], m[1], m[0]] : [m[0], m[1], m[2]];
        var range = ratioRange ?? [1.0, 4.0];
        if (range.Count != 2 || range[0] < 1 || range[1] < range[0])
            throw new DetSharpException("Expand: ratio_range must be (min, max) with 1 <= min <= max.");
        (_minRatio, _maxRatio) = (range[0], range[1]);
        _prob = prob;
    }

    public DetSample? Apply(DetSample sample, Random rng)
    {
        if (rng.NextDouble() > _prob) return sample;
        if (sample.MaskFields.Count > 0 || sample.SegFields.Count > 0)
            throw new DetSharpException("Expand: instance masks and segmentation maps are not supported yet; use it in box-only pipelines (LoadAnnotations without with_mask/with_seg).");
        var img = sample.Img!;
        int h = img.Rows, w = img.Cols;
        double ratio = TransformArgs.Uniform(rng, _minRatio, _maxRatio);
        int left = (int)TransformArgs.Uniform(rng, 0, w * ratio - w);
        int top = (int)TransformArgs.Uniform(rng, 0, h * ratio - h);
        bool isByte = img.Depth() == MatType.CV_8U;
        // numpy's unsafe cast of the float mean into a uint8 canvas truncates; OpenCV's Scalar fill would round.
        var fill = isByte
            ? new Scalar(Math.Clamp(Math.Truncate(_mean[0]), 0, 255), Math.Clamp(Math.Truncate(_mean[1]), 0, 255), Math.Clamp(Math.Truncate(_mean[2]), 0, 255))
            : new Scalar(_mean[0], _mean[1], _mean[2]);
        var canvas = new Mat((int)(h * ratio), (int)(w * ratio), img.Type(), fill);
        using (var roi = new Mat(canvas, new Rect(left, top, w, h))) img.CopyTo(roi);
        sample.SetImg(canvas);
        sample.ImgShape = new ImageShape(canvas.Rows, canvas.Cols, canvas.Channels());
        foreach (var key in sample.BboxFields)
        {
            var b = sample.GetBoxes(key);
            if (b is null) continue;
            var shifted = new float[b.Length];
            for (int i = 0; i < b.Length; i++) shifted[i] = b[i] + ((i & 1) == 0 ? left : top);
            sample.SetBoxes(key, shifted);
        }
        return sample;
    }
}

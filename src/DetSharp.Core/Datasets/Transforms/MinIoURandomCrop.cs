using DetSharp.Registry;
using OpenCvSharp;

namespace DetSharp.Datasets.Transforms;

/// <summary>
/// MMDetection's <c>MinIoURandomCrop</c> (SSD's zoom-in). Each round draws a mode from (1, *<c>min_ious</c>, 0): 1 keeps
/// the sample as it is; otherwise up to 50 tries draw a patch (w' uniform in [<c>min_crop_size</c>·w, w], h' likewise;
/// rejected unless 0.5 ≤ h'/w' ≤ 2), whose IoU with every box of every bbox field must reach the mode and which must
/// contain the centre of at least one box; then boxes whose centres lie inside are kept (clipped to the patch when
/// <c>bbox_clip_border</c>) with their labels and masks, shifted, and the image cropped. After 50 failures a new mode is
/// drawn. The patch offset reproduces MMDetection's call <c>uniform(w − w')</c>, numpy's <c>uniform(low=w − w', high=1)</c>,
/// so left = (w − w') + (1 − (w − w'))·u, not a uniform draw in [0, w − w'].
/// </summary>
[Register(Registries.PipelinesName, "MinIoURandomCrop")]
public sealed class MinIoURandomCrop : IPipelineTransform
{
    private readonly double[] _sampleMode;
    private readonly double _minCropSize;
    private readonly bool _clip;

    public MinIoURandomCrop(IReadOnlyList<double>? minIous = null, double minCropSize = 0.3, bool bboxClipBorder = true)
    {
        var ious = minIous ?? [0.1, 0.3, 0.5, 0.7, 0.9];
        _sampleMode = [1, .. ious, 0];
        _minCropSize = minCropSize;
        _clip = bboxClipBorder;
    }

    public DetSample? Apply(DetSample sample, Random rng)
    {
        if (sample.SegFields.Count > 0) throw new DetSharpException("MinIoURandomCrop: segmentation maps are not supported yet.");
        var img = sample.Img!;
        int h = img.Rows, w = img.Cols;
        var all = sample.BboxFields.SelectMany(k => sample.GetBoxes(k) ?? []).ToArray();
        while (true)
        {
            double minIou = _sampleMode[rng.Next(_sampleMode.Length)];
            if (minIou == 1) return sample;
            for (int attempt = 0; attempt < 50; attempt++)
            {
                double newW = TransformArgs.Uniform(rng, _minCropSize * w, w);
                double newH = TransformArgs.Uniform(rng, _minCropSize * h, h);
                if (newH / newW < 0.5 || newH / newW > 2) continue;
                double left = TransformArgs.Uniform(rng, w - newW, 1.0);
                double top = TransformArgs.Uniform(rng, h - newH, 1.0);
                int[] patch = [(int)left, (int)top, (int)(left + newW), (int)(top + newH)];
                if (patch[2] == patch[0] || patch[3] == patch[1]) continue;
                if (all.Length > 0)
                {
                    if (MinOverlap(patch, all) < minIou) continue;
                    if (CentresInside(all, patch).Count == 0) continue;
                    foreach (var key in sample.BboxFields.ToArray())
                    {
                        var boxes = sample.GetBoxes(key);
                        if (boxes is null) continue;
                        var keep = CentresInside(boxes, patch);
                        sample.FilterInstances(key, keep.ToArray());
                        var kept = sample.GetBoxes(key)!;
                        for (int i = 0; i < kept.Length; i++)
                        {
                            int c = i & 3;
                            if (_clip) kept[i] = c < 2 ? Math.Max(kept[i], patch[c]) : Math.Min(kept[i], patch[c]);
                            kept[i] -= patch[c & 1];
                        }
                        if (key == "gt_bboxes" && sample.GtMasks is not null) sample.GtMasks = sample.GtMasks.Crop(patch[0], patch[1], patch[2], patch[3]);
                    }
                }
                // numpy slicing stops at the image border.
                int x2 = Math.Min(patch[2], w), y2 = Math.Min(patch[3], h);
                using (var roi = new Mat(img, new Rect(patch[0], patch[1], x2 - patch[0], y2 - patch[1])))
                    sample.SetImg(roi.Clone());
                sample.ImgShape = new ImageShape(sample.Img!.Rows, sample.Img.Cols, sample.Img.Channels());
                return sample;
            }
        }
    }

    /// <summary>The smallest IoU of the patch with any box (MMDetection's numpy <c>bbox_overlaps</c>: float32, union ≥ 1e-6).</summary>
    private static float MinOverlap(int[] patch, float[] boxes)
    {
        float px1 = patch[0], py1 = patch[1], px2 = patch[2], py2 = patch[3];
        float area1 = (px2 - px1) * (py2 - py1);
        float min = float.PositiveInfinity;
        for (int i = 0; i < boxes.Length / 4; i++)
        {
            float x1 = boxes[i * 4], y1 = boxes[i * 4 + 1], x2 = boxes[i * 4 + 2], y2 = boxes[i * 4 + 3];
            float overlap = Math.Max(Math.Min(px2, x2) - Math.Max(px1, x1), 0f) * Math.Max(Math.Min(py2, y2) - Math.Max(py1, y1), 0f);
            float union = Math.Max(area1 + (x2 - x1) * (y2 - y1) - overlap, 1e-6f);
            min = Math.Min(min, overlap / union);
        }
        return min;
    }

    /// <summary>Indices of the boxes whose centre lies strictly inside the patch.</summary>
    private static List<int> CentresInside(float[] boxes, int[] patch)
    {
        var keep = new List<int>();
        for (int i = 0; i < boxes.Length / 4; i++)
        {
            float cx = (boxes[i * 4] + boxes[i * 4 + 2]) / 2, cy = (boxes[i * 4 + 1] + boxes[i * 4 + 3]) / 2;
            if (cx > patch[0] && cy > patch[1] && cx < patch[2] && cy < patch[3]) keep.Add(i);
        }
        return keep;
    }
}

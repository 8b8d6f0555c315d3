using DetSharp.Registry;
using OpenCvSharp;

namespace DetSharp.Datasets.Transforms;

/// <summary>
/// MMDetection's <c>Mosaic</c> (YOLOX): with probability <c>prob</c>, the sample and three other images of the dataset
/// (<see cref="MultiImageMixDataset"/>'s mix results) are each resized to fit <c>img_scale</c> (h, w) keeping their ratio
/// (⌊w·r⌋ × ⌊h·r⌋, bilinear) and placed top-left, top-right, bottom-left and bottom-right of a centre drawn in
/// <c>center_ratio_range</c>·(w, h) on a 2h × 2w canvas filled with <c>pad_val</c>; each image is cropped where it passes the
/// canvas. Boxes follow (float32 r·x + offset), are clipped to the canvas (<c>bbox_clip_border</c>), filtered by
/// <c>min_bbox_size</c> unless <c>skip_filter</c>, and dropped when wholly outside. Draws: three dataset indices
/// (<see cref="GetIndexes"/>), then the probability, the centre's x ratio and its y ratio. Boxes only: instance masks are
/// refused, as MMDetection's Mosaic leaves them unchanged (wrong) and YOLOX's pipeline loads none.
/// </summary>
[Register(Registries.PipelinesName, "Mosaic")]
public sealed class Mosaic : IMixImageTransform
{
    private readonly int _scaleH, _scaleW;
    private readonly double _centerMin, _centerMax, _minBboxSize, _prob;
    private readonly bool _clip, _skipFilter;
    private readonly byte _padVal;

    public Mosaic(object? imgScale = null, IReadOnlyList<double>? centerRatioRange = null, double minBboxSize = 0, bool bboxClipBorder = true,
        bool skipFilter = true, double padVal = 114, double prob = 1.0)
    {
        (_scaleH, _scaleW) = imgScale is null ? (640, 640) : TransformArgs.Pair(imgScale, "Mosaic img_scale");
        if (_scaleH <= 0 || _scaleW <= 0) throw new DetSharpException($"Mosaic: img_scale must be a positive (h, w), got ({_scaleH}, {_scaleW}).");
        var range = centerRatioRange ?? [0.5, 1.5];
        if (range.Count != 2) throw new DetSharpException("Mosaic: center_ratio_range must be (min, max).");
        (_centerMin, _centerMax) = (range[0], range[1]);
        if (prob is < 0 or > 1) throw new DetSharpException($"Mosaic: prob must be in [0, 1], got {prob}.");
        _minBboxSize = minBboxSize;
        _clip = bboxClipBorder;
        _skipFilter = skipFilter;
        // numpy's np.full(..., pad_val, dtype=uint8) truncates the value into the byte
        _padVal = (byte)Math.Clamp(Math.Truncate(padVal), 0, 255);
        _prob = prob;
    }

    /// <summary>Three random dataset indices (numpy <c>randint(0, len)</c>), for the top-right, bottom-left and bottom-right images.</summary>
    public IReadOnlyList<int> GetIndexes(IDetDataset dataset, Random rng) =>
        [rng.Next(0, dataset.Count), rng.Next(0, dataset.Count), rng.Next(0, dataset.Count)];

    public DetSample? Apply(DetSample sample, Random rng)
    {
        if (rng.NextDouble() > _prob) return sample;
        var mix = sample.MixResults;
        if (mix is not { Count: 3 })
            throw new DetSharpException("Mosaic needs 3 more images: put it in the pipeline of a MultiImageMixDataset (data.train = dict(type='MultiImageMixDataset', dataset=..., pipeline=[dict(type='Mosaic', ...), ...])).");
        var patches = new[] { sample, mix[0], mix[1], mix[2] };
        foreach (var p in patches)
            if (p.MaskFields.Count > 0 || p.GtMasks is not null)
                throw new DetSharpException("Mosaic supports boxes only (as MMDetection's); load the annotations without with_mask.");

        var img = sample.Img!;
        int canvasH = _scaleH * 2, canvasW = _scaleW * 2;
        var canvas = new Mat(canvasH, canvasW, img.Type(), Scalar.All(_padVal));
        int cx = (int)(TransformArgs.Uniform(rng, _centerMin, _centerMax) * _scaleW);
        int cy = (int)(TransformArgs.Uniform(rng, _centerMin, _centerMax) * _scaleH);

        var boxes = new List<float>();
        var labels = new List<long>();
        for (int i = 0; i < 4; i++)
        {
            var patch = patches[i];
            var src = patch.Img!;
            int h = src.Rows, w = src.Cols;
            double ratio = Math.Min((double)_scaleH / h, (double)_scaleW / w);
            using var resized = new Mat();
            Cv2.Resize(src, resized, new Size((int)(w * ratio), (int)(h * ratio)), 0, 0, InterpolationFlags.Linear);
            var (paste, crop) = Combine(i, cx, cy, resized.Cols, resized.Rows);
            if (paste.Width > 0 && paste.Height > 0)
            {
                using var from = new Mat(resized, crop);
                using var to = new Mat(canvas, paste);
                from.CopyTo(to);
            }
            var b = patch.GtBboxes ?? [];
            float r = (float)ratio, padW = paste.X - crop.X, padH = paste.Y - crop.Y;
            for (int k = 0; k < b.Length; k++) boxes.Add(r * b[k] + ((k & 1) == 0 ? padW : padH));
            labels.AddRange(patch.GtLabels ?? []);
        }

        var all = boxes.ToArray();
        if (_clip)
            for (int k = 0; k < all.Length; k++) all[k] = Math.Clamp(all[k], 0f, (k & 1) == 0 ? canvasW : canvasH);
        var allLabels = labels.ToArray();
        if (!_skipFilter)
        {
            var big = new bool[allLabels.Length];
            float min = (float)_minBboxSize;
            for (int i = 0; i < big.Length; i++) big[i] = all[i * 4 + 2] - all[i * 4] > min && all[i * 4 + 3] - all[i * 4 + 1] > min;
            (all, allLabels) = BoxFilters.Select(all, allLabels, BoxFilters.Indices(big));
        }
        (all, allLabels) = BoxFilters.Select(all, allLabels, BoxFilters.Indices(BoxFilters.Inside(all, canvasH, canvasW)));

        sample.SetImg(canvas);
        sample.ImgShape = new ImageShape(canvasH, canvasW, canvas.Channels());
        sample.GtBboxes = all;
        sample.GtLabels = allLabels;
        return sample;
    }

    /// <summary>
    /// Where image <paramref name="loc"/> (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right) of size w × h goes on
    /// the canvas around the centre (cx, cy), and which part of it is taken (mmdet's <c>_mosaic_combine</c>).
    /// </summary>
    private (Rect Paste, Rect Crop) Combine(int loc, int cx, int cy, int w, int h)
    {
        int x1, y1, x2, y2, cx1, cy1, cx2, cy2;
        switch (loc)
        {
            case 0:
                (x1, y1, x2, y2) = (Math.Max(cx - w, 0), Math.Max(cy - h, 0), cx, cy);
                (cx1, cy1, cx2, cy2) = (w - (x2 - x1), h - (y2 - y1), w, h);
                break;
            case 1:
                (x1, y1, x2, y2) = (cx, Math.Max(cy - h, 0), Math.Min(cx + w, _scaleW * 2), cy);
                (cx1, cy1, cx2, cy2) = (0, h - (y2 - y1), Math.Min(w, x2 - x1), h);
                break;
            case 2:
                (x1, y1, x2, y2) = (Math.Max(cx - w, 0), cy, cx, Math.Min(_scaleH * 2, cy + h));
                (cx1, cy1, cx2, cy2) = (w - (x2 - x1), 0, w, Math.Min(y2 - y1, h));
                break;
            default:
                (x1, y1, x2, y2) = (cx, cy, Math.Min(cx + w, _scaleW * 2), Math.Min(_scaleH * 2, cy + h));
                (cx1, cy1, cx2, cy2) = (0, 0, Math.Min(w, x2 - x1), Math.Min(y2 - y1, h));
                break;
        }
        return (new Rect(x1, y1, x2 - x1, y2 - y1), new Rect(cx1, cy1, cx2 - cx1, cy2 - cy1));
    }
}

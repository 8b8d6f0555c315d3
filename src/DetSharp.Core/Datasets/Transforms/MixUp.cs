using DetSharp.Registry;
using DetSharp.Structures;
using OpenCvSharp;

namespace DetSharp.Datasets.Transforms;

/// <summary>
/// MMDetection's <c>MixUp</c> (YOLOX): one other image with boxes (<see cref="GetIndexes"/>: up to <c>max_iters</c> random
/// indices until one has annotated boxes) is resized to fit <c>img_scale</c> (h, w) keeping its ratio, pasted top-left on
/// an h × w canvas of <c>pad_val</c>, the canvas resized by a jitter drawn in <c>ratio_range</c>, flipped with probability
/// <c>flip_ratio</c>, cropped to the sample's size at a random offset (y, then x, drawn only where the canvas is larger)
/// and averaged with the sample (0.5·a + 0.5·b, truncated to uint8). Its boxes follow (clipped when
/// <c>bbox_clip_border</c>, filtered unless <c>skip_filter</c>) and join the sample's; boxes wholly outside are dropped.
/// Draws: the indices, the jitter, the flip, then the offsets. As in MMDetection, a float <c>pad_val</c> (114.0 in the
/// YOLOX configs) makes the canvas float64, so the jitter resize runs in float64 and is truncated to uint8 afterwards,
/// while an integer one keeps it uint8. Boxes only: instance masks are refused.
/// </summary>
[Register(Registries.PipelinesName, "MixUp")]
public sealed class MixUp : IMixImageTransform
{
    private readonly int _scaleH, _scaleW, _maxIters;
    private readonly double _ratioMin, _ratioMax, _flipRatio, _padVal, _minBboxSize, _minAreaRatio, _maxAspectRatio;
    private readonly bool _floatCanvas, _clip, _skipFilter;

    public MixUp(object? imgScale = null, IReadOnlyList<double>? ratioRange = null, double flipRatio = 0.5, object? padVal = null, int maxIters = 15,
        double minBboxSize = 5, double minAreaRatio = 0.2, double maxAspectRatio = 20, bool bboxClipBorder = true, bool skipFilter = true)
    {
        (_scaleH, _scaleW) = imgScale is null ? (640, 640) : TransformArgs.Pair(imgScale, "MixUp img_scale");
        if (_scaleH <= 0 || _scaleW <= 0) throw new DetSharpException($"MixUp: img_scale must be a positive (h, w), got ({_scaleH}, {_scaleW}).");
        var range = ratioRange ?? [0.5, 1.5];
        if (range.Count != 2) throw new DetSharpException("MixUp: ratio_range must be (min, max).");
        (_ratioMin, _ratioMax) = (range[0], range[1]);
        if (maxIters < 1) throw new DetSharpException($"MixUp: max_iters must be at least 1, got {maxIters}.");
        _floatCanvas = padVal is double;
        _padVal = padVal is null ? 114 : TransformArgs.Number(padVal, "MixUp pad_val");
        if (!_floatCanvas && _padVal is < 0 or > 255) throw new DetSharpException($"MixUp: pad_val must be in [0, 255], got {_padVal}.");
        _flipRatio = flipRatio;
        _maxIters = maxIters;
        _minBboxSize = minBboxSize;
        _minAreaRatio = minAreaRatio;
        _maxAspectRatio = maxAspectRatio;
        _clip = bboxClipBorder;
        _skipFilter = skipFilter;
    }

    /// <summary>Random indices (numpy <c>randint(0, len)</c>) until one has boxes, at most <c>max_iters</c>; the last one drawn.</summary>
    public IReadOnlyList<int> GetIndexes(IDetDataset dataset, Random rng)
    {
        int index = 0;
        for (int i = 0; i < _maxIters; i++)
        {
            index = rng.Next(0, dataset.Count);
            if (dataset.GetAnnInfo(index).Bboxes.Length != 0) break;
        }
        return [index];
    }

    public DetSample? Apply(DetSample sample, Random rng)
    {
        if (sample.MixResults is not { Count: 1 } mix)
            throw new DetSharpException("MixUp needs one more image: put it in the pipeline of a MultiImageMixDataset (data.train = dict(type='MultiImageMixDataset', dataset=..., pipeline=[..., dict(type='MixUp', ...)])).");
        var retrieve = mix[0];
        if (sample.MaskFields.Count > 0 || sample.GtMasks is not null || retrieve.GtMasks is not null)
            throw new DetSharpException("MixUp supports boxes only (as MMDetection's); load the annotations without with_mask.");
        if (retrieve.GtBboxes is not { Length: > 0 } retrieveBoxes) return sample;

        double jitter = TransformArgs.Uniform(rng, _ratioMin, _ratioMax);
        bool flip = rng.NextDouble() < _flipRatio;

        var src = retrieve.Img!;
        int channels = src.Channels();
        double scale = Math.Min((double)_scaleH / src.Rows, (double)_scaleW / src.Cols);
        using var resized = new Mat();
        Cv2.Resize(src, resized, new Size((int)(src.Cols * scale), (int)(src.Rows * scale)), 0, 0, InterpolationFlags.Linear);
        using var canvas = new Mat(_scaleH, _scaleW, _floatCanvas ? MatType.CV_64FC(channels) : src.Type(), Scalar.All(_padVal));
        using (var to = new Mat(canvas, new Rect(0, 0, resized.Cols, resized.Rows)))
            resized.ConvertTo(to, canvas.Type());
        scale *= jitter;
        using var jittered = new Mat();
        Cv2.Resize(canvas, jittered, new Size((int)(_scaleW * jitter), (int)(_scaleH * jitter)), 0, 0, InterpolationFlags.Linear);
        if (flip) Cv2.Flip(jittered, jittered, FlipMode.Y);

        var ori = sample.Img!;
        int originH = jittered.Rows, originW = jittered.Cols, targetH = ori.Rows, targetW = ori.Cols;
        int paddedH = Math.Max(originH, targetH), paddedW = Math.Max(originW, targetW);
        int yOffset = paddedH > targetH ? rng.Next(0, paddedH - targetH) : 0;
        int xOffset = paddedW > targetW ? rng.Next(0, paddedW - targetW) : 0;
        var cropped = CropTruncated(jittered, yOffset, xOffset, targetH, targetW);

        // the other image's boxes: scaled, clipped to the jittered canvas, flipped, then moved into the crop
        var moved = new float[retrieveBoxes.Length];
        var before = new float[retrieveBoxes.Length];
        float s = (float)scale;
        for (int k = 0; k < retrieveBoxes.Length; k++)
        {
            float v = retrieveBoxes[k] * s;
            if (_clip) v = Math.Clamp(v, 0f, (k & 1) == 0 ? originW : originH);
            before[k] = v;
        }
        if (flip)
            for (int i = 0; i < before.Length; i += 4)
                (before[i], before[i + 2]) = (originW - before[i + 2], originW - before[i]);
        for (int k = 0; k < before.Length; k++)
        {
            float v = before[k] - ((k & 1) == 0 ? xOffset : yOffset);
            if (_clip) v = Math.Clamp(v, 0f, (k & 1) == 0 ? targetW : targetH);
            moved[k] = v;
        }
        var labels = retrieve.GtLabels ?? [];
        if (!_skipFilter)
            (moved, labels) = BoxFilters.Select(moved, labels, BoxFilters.Indices(BoxFilters.Candidates(before, moved, _minBboxSize, _minAreaRatio, _maxAspectRatio)));

        float[] boxes = [.. sample.GtBboxes ?? [], .. moved];
        long[] allLabels = [.. sample.GtLabels ?? [], .. labels];
        (boxes, allLabels) = BoxFilters.Select(boxes, allLabels, BoxFilters.Indices(BoxFilters.Inside(boxes, targetH, targetW)));

        sample.SetImg(Average(ori, cropped, channels));
        sample.ImgShape = new ImageShape(targetH, targetW, channels);
        sample.GtBboxes = boxes;
        sample.GtLabels = allLabels;
        return sample;
    }

    /// <summary>
    /// The target-sized window at (y, x) of the jittered canvas placed on a zero canvas at least the target's size, as
    /// uint8: numpy's assignment of the float64 canvas into uint8 truncates.
    /// </summary>
    private static byte[] CropTruncated(Mat jittered, int y0, int x0, int h, int w)
    {
        int c = jittered.Channels(), rows = jittered.Rows, cols = jittered.Cols;
        using var doubles = new Mat();
        jittered.ConvertTo(doubles, MatType.CV_64FC(c));
        var source = new double[rows * cols * c];
        System.Runtime.InteropServices.Marshal.Copy(doubles.Data, source, 0, source.Length);
        var o = new byte[h * w * c];
        for (int y = 0; y < h; y++)
        {
            int sy = y + y0;
            if (sy >= rows) break;
            for (int x = 0; x < w; x++)
            {
                int sx = x + x0;
                if (sx >= cols) break;
                for (int k = 0; k < c; k++) o[(y * w + x) * c + k] = (byte)source[(sy * cols + sx) * c + k];
            }
        }
        return o;
    }

    /// <summary>0.5·a + 0.5·b in float32, truncated to uint8.</summary>
    private static Mat Average(Mat ori, byte[] other, int channels)
    {
        var a = CvInterop.ToBytes(ori);
        var o = new byte[a.Length];
        for (int i = 0; i < a.Length; i++) o[i] = (byte)(0.5f * a[i] + 0.5f * other[i]);
        return ColorOps.FromBytes(o, ori.Rows, ori.Cols, channels);
    }
}

using DetSharp.Registry;
using OpenCvSharp;

namespace DetSharp.Datasets.Transforms;

/// <summary>
/// MMDetection's <c>RandomAffine</c> (YOLOX): draws, in order, a rotation in ±<c>max_rotate_degree</c>, a scale in
/// <c>scaling_ratio_range</c>, x and y shears in ±<c>max_shear_degree</c> and x and y translations in
/// ±<c>max_translate_ratio</c>·(output w, h); warps the image with translate·shear·rotate·scale (float32 matrices, as
/// MMDetection builds them; no centring) by <c>cv2.warpPerspective</c> (bilinear, constant <c>border_val</c>) to an output
/// of the input size plus 2·<c>border</c> (h, w). Every bbox field's corners are warped and their hull taken, clipped to
/// the output (<c>bbox_clip_border</c>), boxes wholly outside dropped and, unless <c>skip_filter</c>, those failing
/// <c>min_bbox_size</c> / <c>min_area_ratio</c> (against the box × scale) / <c>max_aspect_ratio</c>; gt_labels follow
/// gt_bboxes. Boxes only: instance masks are refused, as MMDetection does.
/// </summary>
[Register(Registries.PipelinesName, "RandomAffine")]
public sealed class RandomAffine : IPipelineTransform
{
    private readonly double _maxRotate, _maxTranslate, _scaleMin, _scaleMax, _maxShear, _minBboxSize, _minAreaRatio, _maxAspectRatio;
    private readonly int _borderH, _borderW;
    private readonly Scalar _borderVal;
    private readonly bool _clip, _skipFilter;

    public RandomAffine(double maxRotateDegree = 10.0, double maxTranslateRatio = 0.1, IReadOnlyList<double>? scalingRatioRange = null,
        double maxShearDegree = 2.0, object? border = null, object? borderVal = null, double minBboxSize = 2, double minAreaRatio = 0.2,
        double maxAspectRatio = 20, bool bboxClipBorder = true, bool skipFilter = true)
    {
        if (maxTranslateRatio is < 0 or > 1) throw new DetSharpException($"RandomAffine: max_translate_ratio must be in [0, 1], got {maxTranslateRatio}.");
        var range = scalingRatioRange ?? [0.5, 1.5];
        if (range.Count != 2 || range[0] > range[1] || range[0] <= 0)
            throw new DetSharpException("RandomAffine: scaling_ratio_range must be (min, max) with 0 < min <= max.");
        (_scaleMin, _scaleMax) = (range[0], range[1]);
        _maxRotate = maxRotateDegree;
        _maxTranslate = maxTranslateRatio;
        _maxShear = maxShearDegree;
        (_borderH, _borderW) = border is null ? (0, 0) : TransformArgs.Pair(border, "RandomAffine border");
        // cv2 reads a plain number as Scalar(v, 0, 0, 0); a tuple gives one value per channel
        _borderVal = borderVal switch
        {
            null => new Scalar(114, 114, 114),
            List<object?> values => PerChannel(TransformArgs.Fill(values, "RandomAffine border_val")),
            _ => new Scalar(TransformArgs.Number(borderVal, "RandomAffine border_val")),
        };
        _minBboxSize = minBboxSize;
        _minAreaRatio = minAreaRatio;
        _maxAspectRatio = maxAspectRatio;
        _clip = bboxClipBorder;
        _skipFilter = skipFilter;
    }

    private static Scalar PerChannel(double[] v) => new(v[0], v[1], v[2]);

    public DetSample? Apply(DetSample sample, Random rng)
    {
        if (sample.MaskFields.Count > 0 || sample.GtMasks is not null)
            throw new DetSharpException("RandomAffine supports boxes only (as MMDetection's); load the annotations without with_mask.");
        var img = sample.Img!;
        int height = img.Rows + _borderH * 2, width = img.Cols + _borderW * 2;
        if (height <= 0 || width <= 0)
            throw new DetSharpException($"RandomAffine: the {img.Rows}x{img.Cols} image with border ({_borderH}, {_borderW}) leaves no output; border must be above -size/2.");

        double rotation = TransformArgs.Uniform(rng, -_maxRotate, _maxRotate);
        double scale = TransformArgs.Uniform(rng, _scaleMin, _scaleMax);
        double shearX = TransformArgs.Uniform(rng, -_maxShear, _maxShear);
        double shearY = TransformArgs.Uniform(rng, -_maxShear, _maxShear);
        double transX = TransformArgs.Uniform(rng, -_maxTranslate, _maxTranslate) * width;
        double transY = TransformArgs.Uniform(rng, -_maxTranslate, _maxTranslate) * height;
        var m = WarpMatrix(rotation, scale, shearX, shearY, transX, transY);

        using (var matrix = new Mat(3, 3, MatType.CV_64FC1))
        {
            for (int r = 0; r < 3; r++)
                for (int c = 0; c < 3; c++) matrix.Set(r, c, (double)m[r, c]);
            var warped = new Mat();
            Cv2.WarpPerspective(img, warped, matrix, new Size(width, height), InterpolationFlags.Linear, BorderTypes.Constant, _borderVal);
            sample.SetImg(warped);
        }
        sample.ImgShape = new ImageShape(height, width, sample.Img!.Channels());

        foreach (var key in sample.BboxFields.ToArray())
        {
            var boxes = sample.GetBoxes(key);
            if (boxes is null || boxes.Length == 0) continue;
            var warped = WarpBoxes(boxes, m);
            if (_clip)
                for (int k = 0; k < warped.Length; k++) warped[k] = Math.Clamp(warped[k], 0f, (k & 1) == 0 ? width : height);
            var valid = BoxFilters.Inside(warped, height, width);
            if (!_skipFilter)
            {
                var scaled = new float[boxes.Length];
                for (int k = 0; k < boxes.Length; k++) scaled[k] = boxes[k] * (float)scale;
                var good = BoxFilters.Candidates(scaled, warped, _minBboxSize, _minAreaRatio, _maxAspectRatio);
                for (int i = 0; i < valid.Length; i++) valid[i] &= good[i];
            }
            sample.SetBoxes(key, warped);
            sample.FilterInstances(key, BoxFilters.Indices(valid));
        }
        return sample;
    }

    /// <summary>translate @ shear @ rotation @ scaling, each a float32 3×3 matrix multiplied in float32 as numpy does.</summary>
    internal static float[,] WarpMatrix(double rotationDegrees, double scale, double shearXDegrees, double shearYDegrees, double transX, double transY)
    {
        double radian = rotationDegrees * Math.PI / 180, xRadian = shearXDegrees * Math.PI / 180, yRadian = shearYDegrees * Math.PI / 180;
        float[,] rotation = { { (float)Math.Cos(radian), (float)-Math.Sin(radian), 0 }, { (float)Math.Sin(radian), (float)Math.Cos(radian), 0 }, { 0, 0, 1 } };
        float[,] scaling = { { (float)scale, 0, 0 }, { 0, (float)scale, 0 }, { 0, 0, 1 } };
        float[,] shear = { { 1, (float)Math.Tan(xRadian), 0 }, { (float)Math.Tan(yRadian), 1, 0 }, { 0, 0, 1 } };
        float[,] translate = { { 1, 0, (float)transX }, { 0, 1, (float)transY }, { 0, 0, 1 } };
        return MatMul(MatMul(MatMul(translate, shear), rotation), scaling);
    }

    private static float[,] MatMul(float[,] a, float[,] b)
    {
        var o = new float[3, 3];
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 3; c++) o[r, c] = a[r, 0] * b[0, c] + a[r, 1] * b[1, c] + a[r, 2] * b[2, c];
        return o;
    }

    /// <summary>Each box's four corners through the homogeneous matrix, then their min/max (float32).</summary>
    private static float[] WarpBoxes(float[] boxes, float[,] m)
    {
        var o = new float[boxes.Length];
        Span<float> xs = stackalloc float[4], ys = stackalloc float[4];
        for (int i = 0; i < boxes.Length / 4; i++)
        {
            float x1 = boxes[i * 4], y1 = boxes[i * 4 + 1], x2 = boxes[i * 4 + 2], y2 = boxes[i * 4 + 3];
            ReadOnlySpan<float> cx = [x1, x1, x2, x2], cy = [y1, y2, y2, y1];
            for (int k = 0; k < 4; k++)
            {
                float w = m[2, 0] * cx[k] + m[2, 1] * cy[k] + m[2, 2];
                xs[k] = (m[0, 0] * cx[k] + m[0, 1] * cy[k] + m[0, 2]) / w;
                ys[k] = (m[1, 0] * cx[k] + m[1, 1] * cy[k] + m[1, 2]) / w;
            }
            o[i * 4] = Min(xs);
            o[i * 4 + 1] = Min(ys);
            o[i * 4 + 2] = Max(xs);
            o[i * 4 + 3] = Max(ys);
        }
        return o;
    }

    private static float Min(ReadOnlySpan<float> v) => Math.Min(Math.Min(v[0], v[1]), Math.Min(v[2], v[3]));

    private static float Max(ReadOnlySpan<float> v) => Math.Max(Math.Max(v[0], v[1]), Math.Max(v[2], v[3]));
}

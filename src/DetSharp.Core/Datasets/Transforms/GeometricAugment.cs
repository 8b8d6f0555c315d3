using DetSharp.Registry;
using DetSharp.Structures;
using OpenCvSharp;

namespace DetSharp.Datasets.Transforms;

/// <summary>What MMDetection's AutoAugment geometric transforms share.</summary>
internal static class Geometric
{
    public const double MaxLevel = 10;

    public static void CheckCommon(double level, double prob, string name)
    {
        if (level < 0 || level > MaxLevel) throw new DetSharpException($"{name}: level must be in [0, 10], got {level}.");
        if (prob < 0 || prob > 1) throw new DetSharpException($"{name}: prob must be in [0, 1], got {prob}.");
    }

    /// <summary>
    /// Rotate, Translate and Shear warp semantic segmentation maps too in MMDetection (nearest, filled with
    /// seg_ignore_label); DetSharp does not yet, so a sample that carries one is refused rather than left unwarped.
    /// </summary>
    public static void RefuseSegMaps(DetSample s, string name)
    {
        if (s.SegFields.Count > 0)
            throw new DetSharpException($"{name}: semantic segmentation maps ({string.Join(", ", s.SegFields)}) are not warped by {name} yet; remove {name} "
                + "from a pipeline with LoadAnnotations(with_seg=True), or load no maps (with_seg=False).");
    }

    public static void WarpImage(DetSample s, double[] matrix, double[] fill)
    {
        var img = s.Img!;
        var dst = new Mat();
        using var m = CvInterop.AffineMat(matrix);
        Cv2.WarpAffine(img, dst, m, new Size(img.Cols, img.Rows), InterpolationFlags.Linear, BorderTypes.Constant, new Scalar(fill[0], fill[1], fill[2]));
        s.SetImg(dst);
        s.ImgShape = new ImageShape(dst.Rows, dst.Cols, dst.Channels());
    }

    /// <summary>Axis-aligned hull of each box's 4 corners through the 2×3 matrix, clipped to the image (as mmdet, float64 math).</summary>
    public static void WarpBoxes(DetSample s, double[] m)
    {
        double w = s.ImgShape.Width, h = s.ImgShape.Height;
        foreach (var key in s.BboxFields)
        {
            var b = s.GetBoxes(key);
            if (b is null) continue;
            var o = new float[b.Length];
            for (int i = 0; i < b.Length; i += 4)
            {
                double minX = double.MaxValue, minY = double.MaxValue, maxX = double.MinValue, maxY = double.MinValue;
                for (int c = 0; c < 4; c++)
                {
                    double x = (c & 1) == 0 ? b[i] : b[i + 2], y = c < 2 ? b[i + 1] : b[i + 3];
                    double nx = m[0] * x + m[1] * y + m[2], ny = m[3] * x + m[4] * y + m[5];
                    minX = Math.Min(minX, nx); maxX = Math.Max(maxX, nx);
                    minY = Math.Min(minY, ny); maxY = Math.Max(maxY, ny);
                }
                minX = Math.Clamp(minX, 0, w); minY = Math.Clamp(minY, 0, h);
                maxX = Math.Clamp(maxX, minX, w); maxY = Math.Clamp(maxY, minY, h);
                o[i] = (float)minX; o[i + 1] = (float)minY; o[i + 2] = (float)maxX; o[i + 3] = (float)maxY;
            }
            s.SetBoxes(key, o);
        }
    }

    /// <summary><c>_filter_invalid</c>: drops instances whose box width or height is ≤ min size (labels and masks follow).</summary>
    public static void FilterInvalid(DetSample s, double minSize)
    {
        foreach (var key in s.BboxFields.ToArray())
        {
            var b = s.GetBoxes(key);
            if (b is null) continue;
            var keep = new List<int>();
            for (int i = 0; i < b.Length / 4; i++)
                if (b[i * 4 + 2] - b[i * 4] > minSize && b[i * 4 + 3] - b[i * 4 + 1] > minSize) keep.Add(i);
            if (keep.Count != b.Length / 4) s.FilterInstances(key, keep.ToArray());
        }
    }
}

/// <summary>
/// MMDetection's <c>Rotate</c>: angle = level/10·max_rotate_angle degrees (clockwise), negated with
/// random_negative_prob, about the image centre ((w−1)/2, (h−1)/2) or <c>center</c>; image bilinear with img_fill_val,
/// masks fill 0, boxes = hull of the rotated corners, then empty boxes dropped.
/// </summary>
[Register(Registries.PipelinesName, "Rotate")]
public sealed class Rotate : IPipelineTransform
{
    private readonly double _angle, _scale, _prob, _negProb;
    private readonly double[] _fill;
    private readonly (double X, double Y)? _center;

    public Rotate(double level, double scale = 1, object? center = null, object? imgFillVal = null, int segIgnoreLabel = 255, double prob = 0.5,
        double maxRotateAngle = 30, double randomNegativeProb = 0.5)
    {
        Geometric.CheckCommon(level, prob, "Rotate");
        // seg_ignore_label fills the uncovered part of a semantic segmentation map; Apply refuses samples with maps, so the
        // value cannot change a result.
        _ = segIgnoreLabel;
        _angle = level / Geometric.MaxLevel * maxRotateAngle;
        _scale = scale;
        _prob = prob;
        _negProb = randomNegativeProb;
        _fill = TransformArgs.Fill(imgFillVal ?? 128L, "Rotate img_fill_val");
        if (center is List<object?> { Count: 2 } c)
            _center = (TransformArgs.Number(c[0], "Rotate center"), TransformArgs.Number(c[1], "Rotate center"));
        else if (center is not null)
        {
            double v = TransformArgs.Number(center, "Rotate center");
            _center = (v, v);
        }
    }

    public DetSample? Apply(DetSample sample, Random rng)
    {
        Geometric.RefuseSegMaps(sample, "Rotate");
        if (rng.NextDouble() > _prob) return sample;
        int h = sample.Img!.Rows, w = sample.Img.Cols;
        var (cx, cy) = _center ?? ((w - 1) * 0.5, (h - 1) * 0.5);
        double angle = TransformArgs.RandomNegative(_angle, _negProb, rng);
        var matrix = ImageGeometry.RotationMatrix(cx, cy, angle, _scale);
        Geometric.WarpImage(sample, matrix, _fill);
        Geometric.WarpBoxes(sample, matrix);
        foreach (var key in sample.MaskFields)
        {
            var m = sample.GetMasks(key);
            if (m is not null) sample.SetMasks(key, m.Rotate(sample.ImgShape.Height, sample.ImgShape.Width, angle, cx, cy, _scale));
        }
        Geometric.FilterInvalid(sample, 0);
        return sample;
    }
}

/// <summary>
/// MMDetection's <c>Translate</c>: offset = int(level/10·max_translate_offset) px (right or down), negated with
/// random_negative_prob; boxes shifted and clipped, masks shifted with fill 0, boxes ≤ min_size dropped.
/// </summary>
[Register(Registries.PipelinesName, "Translate")]
public sealed class Translate : IPipelineTransform
{
    private readonly double _offset, _prob, _negProb, _minSize;
    private readonly double[] _fill;
    private readonly AxisDirection _direction;

    public Translate(double level, double prob = 0.5, object? imgFillVal = null, int segIgnoreLabel = 255, string direction = "horizontal",
        double maxTranslateOffset = 250, double randomNegativeProb = 0.5, double minSize = 0)
    {
        Geometric.CheckCommon(level, prob, "Translate");
        // seg_ignore_label fills the uncovered part of a semantic segmentation map; Apply refuses samples with maps, so the
        // value cannot change a result.
        _ = segIgnoreLabel;
        _offset = (int)(level / Geometric.MaxLevel * maxTranslateOffset);
        _prob = prob;
        _negProb = randomNegativeProb;
        _minSize = minSize;
        _fill = TransformArgs.Fill(imgFillVal ?? 128L, "Translate img_fill_val");
        _direction = Directions.ParseAxis(direction);
    }

    public DetSample? Apply(DetSample sample, Random rng)
    {
        Geometric.RefuseSegMaps(sample, "Translate");
        if (rng.NextDouble() > _prob) return sample;
        double offset = TransformArgs.RandomNegative(_offset, _negProb, rng);
        double[] matrix = _direction == AxisDirection.Horizontal ? [1, 0, (float)offset, 0, 1, 0] : [1, 0, 0, 0, 1, (float)offset];
        Geometric.WarpImage(sample, matrix, _fill);
        float w = sample.ImgShape.Width, h = sample.ImgShape.Height, o = (float)offset;
        foreach (var key in sample.BboxFields)
        {
            var b = sample.GetBoxes(key);
            if (b is null) continue;
            var r = (float[])b.Clone();
            for (int i = 0; i < r.Length; i += 4)
            {
                if (_direction == AxisDirection.Horizontal) { r[i] = Math.Max(0, b[i] + o); r[i + 2] = Math.Min(w, b[i + 2] + o); }
                else { r[i + 1] = Math.Max(0, b[i + 1] + o); r[i + 3] = Math.Min(h, b[i + 3] + o); }
            }
            sample.SetBoxes(key, r);
        }
        foreach (var key in sample.MaskFields)
        {
            var m = sample.GetMasks(key);
            if (m is not null) sample.SetMasks(key, m.Translate(sample.ImgShape.Height, sample.ImgShape.Width, offset, _direction));
        }
        Geometric.FilterInvalid(sample, _minSize);
        return sample;
    }
}

/// <summary>
/// MMDetection's <c>Shear</c>: magnitude = level/10·max_shear_magnitude, negated with random_negative_prob;
/// x' = x + m·y (horizontal) or y' = y + m·x; boxes = hull of the sheared corners, clipped; empty boxes dropped.
/// </summary>
[Register(Registries.PipelinesName, "Shear")]
public sealed class Shear : IPipelineTransform
{
    private readonly double _magnitude, _prob, _negProb;
    private readonly double[] _fill;
    private readonly AxisDirection _direction;
    private readonly InterpolationFlags _interpolation;

    public Shear(double level, object? imgFillVal = null, int segIgnoreLabel = 255, double prob = 0.5, string direction = "horizontal",
        double maxShearMagnitude = 0.3, double randomNegativeProb = 0.5, string interpolation = "bilinear")
    {
        Geometric.CheckCommon(level, prob, "Shear");
        // seg_ignore_label fills the uncovered part of a semantic segmentation map; Apply refuses samples with maps, so the
        // value cannot change a result.
        _ = segIgnoreLabel;
        _magnitude = level / Geometric.MaxLevel * maxShearMagnitude;
        _prob = prob;
        _negProb = randomNegativeProb;
        _fill = TransformArgs.Fill(imgFillVal ?? 128L, "Shear img_fill_val");
        _direction = Directions.ParseAxis(direction);
        _interpolation = Resize.Interpolation(interpolation);
    }

    public DetSample? Apply(DetSample sample, Random rng)
    {
        Geometric.RefuseSegMaps(sample, "Shear");
        if (rng.NextDouble() > _prob) return sample;
        double magnitude = TransformArgs.RandomNegative(_magnitude, _negProb, rng);
        double m = (float)magnitude;
        double[] matrix = _direction == AxisDirection.Horizontal ? [1, m, 0, 0, 1, 0] : [1, 0, 0, m, 1, 0];
        var img = sample.Img!;
        var dst = new Mat();
        using (var mat = CvInterop.AffineMat(matrix))
            Cv2.WarpAffine(img, dst, mat, new Size(img.Cols, img.Rows), _interpolation, BorderTypes.Constant, new Scalar(_fill[0], _fill[1], _fill[2]));
        sample.SetImg(dst);
        Geometric.WarpBoxes(sample, matrix);
        foreach (var key in sample.MaskFields)
        {
            var masks = sample.GetMasks(key);
            if (masks is not null) sample.SetMasks(key, masks.Shear(sample.ImgShape.Height, sample.ImgShape.Width, magnitude, _direction));
        }
        Geometric.FilterInvalid(sample, 0);
        return sample;
    }
}

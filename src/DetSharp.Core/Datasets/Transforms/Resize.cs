using DetSharp.Config;
using DetSharp.Registry;
using DetSharp.Structures;
using OpenCvSharp;

namespace DetSharp.Datasets.Transforms;

/// <summary>
/// MMDetection's <c>Resize</c>: scale from one tuple, <c>range</c> (long and short edges drawn independently, inclusive),
/// <c>value</c> (one of the tuples) or <c>ratio_range</c>; keep_ratio uses mmcv's <c>rescale_size</c>
/// (<c>int(w·f + 0.5)</c>); the image with cv2 (bilinear by default), boxes × scale_factor and clipped, bitmap masks
/// nearest. At test time the scale comes from the sample (MultiScaleFlipAug).
/// </summary>
[Register(Registries.PipelinesName, "Resize")]
public sealed class Resize : IPipelineTransform
{
    private readonly List<(int A, int B)> _scales;
    private readonly double[]? _ratioRange;
    private readonly InterpolationFlags _interpolation;

    public Resize(object? imgScale = null, string multiscaleMode = "range", IReadOnlyList<double>? ratioRange = null, bool keepRatio = true,
        bool bboxClipBorder = true, string backend = "cv2", string interpolation = "bilinear", bool @override = false)
    {
        _scales = TransformArgs.Scales(imgScale, "Resize img_scale");
        if (ratioRange is not null)
        {
            if (ratioRange.Count != 2) throw new DetSharpException("Resize: ratio_range must be (min, max).");
            if (_scales.Count > 1) throw new DetSharpException("Resize: ratio_range needs a single img_scale.");
            _ratioRange = [ratioRange[0], ratioRange[1]];
        }
        if (multiscaleMode is not ("range" or "value")) throw new DetSharpException($"Resize: multiscale_mode '{multiscaleMode}' is not 'range' or 'value'.");
        if (multiscaleMode == "range" && _scales.Count > 2 && _ratioRange is null)
            throw new DetSharpException($"Resize: multiscale_mode='range' takes exactly 2 img_scale tuples, got {_scales.Count}; use multiscale_mode='value' for a list.");
        if (backend != "cv2") throw new DetSharpException($"Resize: backend '{backend}' is not supported; use 'cv2'.");
        _interpolation = Interpolation(interpolation);
        MultiscaleMode = multiscaleMode;
        KeepRatio = keepRatio;
        BboxClipBorder = bboxClipBorder;
        Override = @override;
    }

    public string MultiscaleMode { get; }
    public bool KeepRatio { get; }
    public bool BboxClipBorder { get; }
    public bool Override { get; }

    internal static InterpolationFlags Interpolation(string name) => name switch
    {
        "nearest" => InterpolationFlags.Nearest,
        "bilinear" => InterpolationFlags.Linear,
        "bicubic" => InterpolationFlags.Cubic,
        "area" => InterpolationFlags.Area,
        "lanczos" => InterpolationFlags.Lanczos4,
        _ => throw new DetSharpException($"interpolation '{name}' is not one of nearest, bilinear, bicubic, area, lanczos."),
    };

    public DetSample? Apply(DetSample sample, Random rng)
    {
        var img = sample.Img ?? throw new InvalidOperationException("Resize needs an image (LoadImageFromFile first).");
        if (sample.Scale is null || Override)
        {
            if (sample.PresetScaleFactor is double f)
                sample.Scale = ((int)(img.Cols * f), (int)(img.Rows * f));
            else
                ChooseScale(sample, rng);
        }
        var (sa, sb) = sample.Scale!.Value;
        int h = img.Rows, w = img.Cols, nw, nh;
        if (KeepRatio) (nw, nh, _) = ImageGeometry.RescaleSize(w, h, sa, sb);
        else (nw, nh) = (sa, sb);
        var resized = new Mat();
        Cv2.Resize(img, resized, new Size(nw, nh), 0, 0, _interpolation);
        sample.SetImg(resized);
        float ws = (float)((double)nw / w), hs = (float)((double)nh / h);
        sample.ScaleFactor = [ws, hs, ws, hs];
        sample.ImgShape = new ImageShape(nh, nw, resized.Channels());
        sample.PadShape = sample.ImgShape;
        sample.KeepRatio = KeepRatio;

        foreach (var key in sample.BboxFields)
        {
            var boxes = sample.GetBoxes(key);
            if (boxes is null) continue;
            var o = new float[boxes.Length];
            for (int i = 0; i < boxes.Length; i++)
            {
                float v = boxes[i] * sample.ScaleFactor[i & 3];
                if (BboxClipBorder) v = Math.Clamp(v, 0f, (i & 1) == 0 ? nw : nh);
                o[i] = v;
            }
            sample.SetBoxes(key, o);
        }
        foreach (var key in sample.MaskFields)
        {
            var masks = sample.GetMasks(key);
            if (masks is null) continue;
            sample.SetMasks(key, KeepRatio ? masks.Rescale(sa, sb) : masks.Resize(nh, nw));
        }
        // mmdet's _resize_seg: nearest neighbour, the scale applied to the map's own size.
        foreach (var key in sample.SegFields)
        {
            var seg = sample.GetSeg(key);
            if (seg is null) continue;
            sample.SetSeg(key, KeepRatio ? seg.Rescale(sa, sb) : seg.Resize(nh, nw));
        }
        return sample;
    }

    private void ChooseScale(DetSample s, Random rng)
    {
        if (_ratioRange is not null)
        {
            var baseScale = _scales.Count == 0 ? (s.Img!.Cols, s.Img.Rows) : _scales[0];
            double ratio = rng.NextDouble() * (_ratioRange[1] - _ratioRange[0]) + _ratioRange[0];
            s.Scale = ((int)(baseScale.Item1 * ratio), (int)(baseScale.Item2 * ratio));
            s.ScaleIdx = null;
        }
        else if (_scales.Count == 1)
        {
            s.Scale = _scales[0];
            s.ScaleIdx = 0;
        }
        else if (_scales.Count == 0)
        {
            throw new DetSharpException("Resize has no img_scale and the sample carries no scale (only MultiScaleFlipAug presets one).");
        }
        else if (MultiscaleMode == "range")
        {
            int longMin = Math.Min(Math.Max(_scales[0].A, _scales[0].B), Math.Max(_scales[1].A, _scales[1].B));
            int longMax = Math.Max(Math.Max(_scales[0].A, _scales[0].B), Math.Max(_scales[1].A, _scales[1].B));
            int shortMin = Math.Min(Math.Min(_scales[0].A, _scales[0].B), Math.Min(_scales[1].A, _scales[1].B));
            int shortMax = Math.Max(Math.Min(_scales[0].A, _scales[0].B), Math.Min(_scales[1].A, _scales[1].B));
            int longEdge = rng.Next(longMin, longMax + 1);
            int shortEdge = rng.Next(shortMin, shortMax + 1);
            s.Scale = (longEdge, shortEdge);
            s.ScaleIdx = null;
        }
        else
        {
            int idx = rng.Next(_scales.Count);
            s.Scale = _scales[idx];
            s.ScaleIdx = idx;
        }
    }
}

using DetSharp.Registry;

namespace DetSharp.Datasets.Transforms;

/// <summary>
/// MMDetection's <c>RandomCrop</c>: crop size (h, w) from <c>crop_type</c> (absolute, absolute_range, relative,
/// relative_range), a uniform offset, boxes shifted and clipped, boxes without area dropped with their labels and masks;
/// a crop that loses every gt box drops the sample unless allow_negative_crop.
/// </summary>
[Register(Registries.PipelinesName, "RandomCrop")]
public sealed class RandomCrop : IPipelineTransform
{
    private readonly double[] _size;
    private readonly string _type;
    private readonly bool _allowNegative, _recomputeBbox, _clip;

    public RandomCrop(IReadOnlyList<double> cropSize, string cropType = "absolute", bool allowNegativeCrop = false, bool recomputeBbox = false,
        bool bboxClipBorder = true)
    {
        if (cropSize.Count != 2) throw new DetSharpException("RandomCrop: crop_size must be (h, w).");
        if (cropType is not ("absolute" or "absolute_range" or "relative" or "relative_range"))
            throw new DetSharpException($"RandomCrop: crop_type '{cropType}' is not absolute, absolute_range, relative or relative_range.");
        if (cropType.StartsWith("relative", StringComparison.Ordinal) && (cropSize[0] <= 0 || cropSize[0] > 1 || cropSize[1] <= 0 || cropSize[1] > 1))
            throw new DetSharpException("RandomCrop: relative crop sizes must be in (0, 1].");
        _size = [cropSize[0], cropSize[1]];
        _type = cropType;
        _allowNegative = allowNegativeCrop;
        _recomputeBbox = recomputeBbox;
        _clip = bboxClipBorder;
    }

    private (int H, int W) CropSize(int h, int w, Random rng) => _type switch
    {
        "absolute" => (Math.Min((int)_size[0], h), Math.Min((int)_size[1], w)),
        "absolute_range" => (rng.Next(Math.Min(h, (int)_size[0]), Math.Min(h, (int)_size[1]) + 1),
                             rng.Next(Math.Min(w, (int)_size[0]), Math.Min(w, (int)_size[1]) + 1)),
        "relative" => ((int)(h * _size[0] + 0.5), (int)(w * _size[1] + 0.5)),
        _ => RelativeRange(h, w, rng),
    };

    private (int, int) RelativeRange(int h, int w, Random rng)
    {
        float ch = (float)_size[0] + (float)(rng.NextDouble() * (1 - (float)_size[0]));
        float cw = (float)_size[1] + (float)(rng.NextDouble() * (1 - (float)_size[1]));
        return ((int)(h * ch + 0.5), (int)(w * cw + 0.5));
    }

    public DetSample? Apply(DetSample sample, Random rng)
    {
        var img = sample.Img!;
        var (ch, cw) = CropSize(img.Rows, img.Cols, rng);
        int offH = rng.Next(Math.Max(img.Rows - ch, 0) + 1), offW = rng.Next(Math.Max(img.Cols - cw, 0) + 1);
        int y2 = Math.Min(offH + ch, img.Rows), x2 = Math.Min(offW + cw, img.Cols);
        using (var roi = new OpenCvSharp.Mat(img, new OpenCvSharp.Rect(offW, offH, x2 - offW, y2 - offH)))
            sample.SetImg(roi.Clone());
        sample.ImgShape = new ImageShape(y2 - offH, x2 - offW, sample.Img!.Channels());
        foreach (var key in sample.BboxFields.ToArray())
        {
            var b = sample.GetBoxes(key);
            if (b is null) continue;
            var shifted = new float[b.Length];
            for (int i = 0; i < b.Length; i++)
            {
                float v = b[i] - ((i & 1) == 0 ? offW : offH);
                if (_clip) v = Math.Clamp(v, 0f, (i & 1) == 0 ? sample.ImgShape.Width : sample.ImgShape.Height);
                shifted[i] = v;
            }
            var keep = new List<int>();
            for (int i = 0; i < b.Length / 4; i++)
                if (shifted[i * 4 + 2] > shifted[i * 4] && shifted[i * 4 + 3] > shifted[i * 4 + 1]) keep.Add(i);
            if (key == "gt_bboxes" && keep.Count == 0 && !_allowNegative) return null;
            sample.SetBoxes(key, shifted);
            sample.FilterInstances(key, keep.ToArray());
            if (key == "gt_bboxes" && sample.GtMasks is not null)
            {
                sample.GtMasks = sample.GtMasks.Crop(offW, offH, x2, y2);
                if (_recomputeBbox) sample.GtBboxes = sample.GtMasks.ToBitmap().GetBboxes();
            }
        }
        foreach (var key in sample.SegFields)
        {
            var seg = sample.GetSeg(key);
            // numpy slicing: the window clipped to the map
            if (seg is not null) sample.SetSeg(key, seg.Crop(Math.Min(offW, seg.Width), Math.Min(offH, seg.Height), Math.Min(x2, seg.Width), Math.Min(y2, seg.Height)));
        }
        return sample;
    }
}

using DetSharp.Evaluation;
using DetSharp.Structures;
using OpenCvSharp;

namespace DetSharp.Datasets;

/// <summary>Image shape as MMDetection stores it: (h, w, c).</summary>
public readonly record struct ImageShape(int Height, int Width, int Channels)
{
    public override string ToString() => $"({Height}, {Width}, {Channels})";
}

/// <summary>The <c>img_norm_cfg</c> that <c>Normalize</c> records.</summary>
public sealed record ImageNormConfig(float[] Mean, float[] Std, bool ToRgb);

/// <summary>
/// MMDetection's per-image <c>results</c> dict that flows through the pipeline. Boxes are float32 n×4 row-major arrays
/// (x1, y1, x2, y2); <see cref="Img"/> is an OpenCV <c>Mat</c> (BGR uint8 after loading, as mmcv; float32 after
/// Normalize). The sample owns its image: <see cref="SetImg"/> disposes the previous one. Keys without a typed
/// property live in <see cref="Meta"/>.
/// </summary>
public sealed class DetSample : IDisposable
{
    public CocoImage? ImgInfo { get; set; }
    public AnnInfo? AnnInfo { get; set; }
    public string? ImgPrefix { get; set; }
    public string? SegPrefix { get; set; }
    public string? Filename { get; set; }
    public string? OriFilename { get; set; }

    public Mat? Img { get; private set; }
    public ImageShape ImgShape { get; set; }
    public ImageShape OriShape { get; set; }
    public ImageShape? PadShape { get; set; }

    /// <summary>[w_scale, h_scale, w_scale, h_scale] (float32) once Resize ran.</summary>
    public float[]? ScaleFactor { get; set; }

    /// <summary>A scalar <c>scale_factor</c> preset by MultiScaleFlipAug(scale_factor=...), before Resize turns it into a scale.</summary>
    public double? PresetScaleFactor { get; set; }

    public bool? KeepRatio { get; set; }

    /// <summary>The chosen target scale (a, b) as in MMDetection (usually (w, h) or (long, short)).</summary>
    public (int A, int B)? Scale { get; set; }
    public int? ScaleIdx { get; set; }

    public bool? Flip { get; set; }
    public string? FlipDirection { get; set; }
    /// <summary>Whether <see cref="FlipDirection"/> was set (even to null), as MMDetection's key check.</summary>
    public bool FlipDirectionSet { get; set; }

    public ImageNormConfig? ImgNormCfg { get; set; }
    public (int Height, int Width)? PadFixedSize { get; set; }
    public int? PadSizeDivisor { get; set; }

    public float[]? GtBboxes { get; set; }
    public long[]? GtLabels { get; set; }
    public float[]? GtBboxesIgnore { get; set; }
    public IInstanceMasks? GtMasks { get; set; }

    public List<string> BboxFields { get; set; } = [];
    public List<string> MaskFields { get; set; } = [];
    public List<string> ImgFields { get; set; } = [];
    public List<string> SegFields { get; set; } = [];

    /// <summary>The image as float32 CHW (<c>DefaultFormatBundle</c> / <c>ImageToTensor</c>), with its (c, h, w).</summary>
    public float[]? ImageChw { get; set; }
    public (int C, int H, int W) ImageChwShape { get; set; }

    /// <summary>The value collation pads this image with at the bottom/right (DefaultFormatBundle's <c>pad_val.img</c>, default 0).</summary>
    public float CollatePadValue { get; set; }

    /// <summary>The value collation pads segmentation maps with (DefaultFormatBundle's <c>pad_val['seg']</c>, 255).</summary>
    public byte SegCollatePadValue { get; set; } = 255;

    /// <summary>What <c>Collect</c> kept: the data keys and the <c>img_metas</c>.</summary>
    public IReadOnlyList<string>? CollectedKeys { get; set; }
    public IReadOnlyDictionary<string, object?>? ImgMetas { get; set; }

    /// <summary>The other images a mixing transform (Mosaic, MixUp) combines with this one (<c>mix_results</c>).</summary>
    public IReadOnlyList<DetSample>? MixResults { get; set; }

    /// <summary>MultiScaleFlipAug's outputs, one per (scale, flip) pair.</summary>
    public IReadOnlyList<DetSample>? AugSamples { get; set; }

    /// <summary>Other keys, as the Python dict would hold them.</summary>
    public Dictionary<string, object?> Meta => _meta;

    /// <summary>Replaces the image, disposing the previous one unless it is the same object.</summary>
    public void SetImg(Mat? img)
    {
        if (!ReferenceEquals(Img, img)) Img?.Dispose();
        Img = img;
    }

    /// <summary>The boxes behind a bbox field name (<c>gt_bboxes</c>, <c>gt_bboxes_ignore</c>).</summary>
    public float[]? GetBoxes(string key) => key switch
    {
        "gt_bboxes" => GtBboxes,
        "gt_bboxes_ignore" => GtBboxesIgnore,
        _ => Meta.TryGetValue(key, out var v) ? v as float[] : null,
    };

    public void SetBoxes(string key, float[] boxes)
    {
        switch (key)
        {
            case "gt_bboxes": GtBboxes = boxes; break;
            case "gt_bboxes_ignore": GtBboxesIgnore = boxes; break;
            default: Meta[key] = boxes; break;
        }
    }

    public IInstanceMasks? GetMasks(string key) => key == "gt_masks" ? GtMasks : Meta.TryGetValue(key, out var v) ? v as IInstanceMasks : null;

    /// <summary>The segmentation map behind a seg field name (<c>gt_semantic_seg</c>), kept where the Python dict keeps it.</summary>
    public SegMap? GetSeg(string key) => Meta.TryGetValue(key, out var v) ? v as SegMap : null;

    public void SetSeg(string key, SegMap seg) => Meta[key] = seg;

    public void SetMasks(string key, IInstanceMasks masks)
    {
        if (key == "gt_masks") GtMasks = masks;
        else Meta[key] = masks;
    }

    /// <summary>
    /// Keeps only the instances at <paramref name="keep"/> for a bbox field, and the labels and masks that go with it
    /// (MMDetection's <c>bbox2label</c> / <c>bbox2mask</c>: gt_bboxes → gt_labels, gt_masks).
    /// </summary>
    public void FilterInstances(string bboxKey, ReadOnlySpan<int> keep)
    {
        var boxes = GetBoxes(bboxKey);
        if (boxes is null) return;
        var kept = new float[keep.Length * 4];
        for (int i = 0; i < keep.Length; i++) boxes.AsSpan(keep[i] * 4, 4).CopyTo(kept.AsSpan(i * 4, 4));
        SetBoxes(bboxKey, kept);
        if (bboxKey == "gt_bboxes")
        {
            if (GtLabels is not null)
            {
                var labels = new long[keep.Length];
                for (int i = 0; i < keep.Length; i++) labels[i] = GtLabels[keep[i]];
                GtLabels = labels;
            }
            if (GtMasks is not null) GtMasks = GtMasks.Select(keep);
        }
    }

    /// <summary>MMDetection's <c>results.copy()</c> (shallow) with the image cloned, so each copy owns its own image.</summary>
    public DetSample ShallowCopy()
    {
        var copy = (DetSample)MemberwiseClone();
        copy.Img = Img?.Clone();
        copy.BboxFields = [.. BboxFields];
        copy.MaskFields = [.. MaskFields];
        copy.ImgFields = [.. ImgFields];
        copy.SegFields = [.. SegFields];
        copy._meta = new Dictionary<string, object?>(Meta, StringComparer.Ordinal);
        return copy;
    }

    private Dictionary<string, object?> _meta = new(StringComparer.Ordinal);

    public void Dispose()
    {
        Img?.Dispose();
        Img = null;
        if (AugSamples is not null)
            foreach (var s in AugSamples) s.Dispose();
    }
}

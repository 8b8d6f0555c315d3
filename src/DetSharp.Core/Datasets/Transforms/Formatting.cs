using System.Runtime.InteropServices;
using DetSharp.Registry;
using OpenCvSharp;

namespace DetSharp.Datasets.Transforms;

/// <summary>Image Mat → float32 CHW array.</summary>
internal static class ChwConverter
{
    public static (float[] Data, int C, int H, int W) ToChw(Mat img)
    {
        using var f = new Mat();
        img.ConvertTo(f, MatType.CV_32FC(img.Channels()));
        int c = f.Channels(), h = f.Rows, w = f.Cols;
        var hwc = new float[c * h * w];
        using (var cont = f.IsContinuous() ? null : f.Clone())
            Marshal.Copy((cont ?? f).Data, hwc, 0, hwc.Length);
        var chw = new float[hwc.Length];
        int plane = h * w;
        for (int p = 0; p < plane; p++)
            for (int k = 0; k < c; k++)
                chw[k * plane + p] = hwc[p * c + k];
        return (chw, c, h, w);
    }
}

/// <summary>
/// MMDetection's <c>DefaultFormatBundle</c>, with plain arrays: the image as float32 CHW (<see cref="DetSample.ImageChw"/>;
/// tensors are made by the TorchSharp side), default <c>pad_shape</c>, <c>scale_factor</c> (1.0) and
/// <c>img_norm_cfg</c> (mean 0, std 1, to_rgb False) when absent. Boxes, labels and masks stay as they are.
/// <c>pad_val=dict(img=0, masks=0, seg=255)</c>: <c>img</c> is the value collation pads a batch's images with
/// (<see cref="DetSample.CollatePadValue"/>), <c>seg</c> the value it pads <c>gt_semantic_seg</c> with
/// (<see cref="DetSample.SegCollatePadValue"/>); masks are not padded by collation (they stay per image, as mmcv's
/// <c>cpu_only</c> containers), so <c>masks</c> changes nothing.
/// </summary>
[Register(Registries.PipelinesName, "DefaultFormatBundle")]
public sealed class DefaultFormatBundle : IPipelineTransform
{
    private readonly float _imgPadValue;
    private readonly byte _segPadValue = 255;

    public DefaultFormatBundle(bool imgToFloat = true, Config.ConfigDict? padVal = null)
    {
        // mmdet's img_to_float=False keeps a uint8 image as uint8, which no detector's first convolution takes.
        if (!imgToFloat) throw new DetSharpException("DefaultFormatBundle: img_to_float=False is not supported (the models take float32 images); remove it.");
        if (padVal is not null)
        {
            foreach (var key in padVal.Keys)
            {
                if (key is not ("img" or "masks" or "seg"))
                    throw new DetSharpException($"DefaultFormatBundle: pad_val has an unknown key '{key}'; it takes img, masks and seg.");
            }
            _imgPadValue = padVal.TryGetValue("img", out var img) ? (float)TransformArgs.Number(img, "DefaultFormatBundle pad_val.img") : 0f;
            _segPadValue = padVal.TryGetValue("seg", out var seg) ? (byte)TransformArgs.Number(seg, "DefaultFormatBundle pad_val.seg") : (byte)255;
        }
    }

    public DetSample? Apply(DetSample sample, Random rng)
    {
        if (sample.Img is not null)
        {
            sample.PadShape ??= new ImageShape(sample.Img.Rows, sample.Img.Cols, sample.Img.Channels());
            sample.ScaleFactor ??= [1f, 1f, 1f, 1f];
            int c = sample.Img.Channels();
            sample.ImgNormCfg ??= new ImageNormConfig(new float[c], Enumerable.Repeat(1f, c).ToArray(), false);
            var (data, cc, h, w) = ChwConverter.ToChw(sample.Img);
            sample.ImageChw = data;
            sample.ImageChwShape = (cc, h, w);
            sample.CollatePadValue = _imgPadValue;
        }
        sample.SegCollatePadValue = _segPadValue;
        return sample;
    }
}

/// <summary>MMDetection's <c>ImageToTensor</c> (test pipelines): the image as a CHW float32 array.</summary>
[Register(Registries.PipelinesName, "ImageToTensor")]
public sealed class ImageToTensor(IReadOnlyList<string> keys) : IPipelineTransform
{
    public DetSample? Apply(DetSample sample, Random rng)
    {
        foreach (var key in keys)
        {
            if (key != "img") throw new DetSharpException($"ImageToTensor: only the 'img' key is supported, got '{key}'.");
            var (data, c, h, w) = ChwConverter.ToChw(sample.Img!);
            sample.ImageChw = data;
            sample.ImageChwShape = (c, h, w);
        }
        return sample;
    }
}

/// <summary>MMDetection's <c>Collect</c>: records the data keys and the <c>img_metas</c> (meta_keys) the model gets.</summary>
[Register(Registries.PipelinesName, "Collect")]
public sealed class Collect(IReadOnlyList<string> keys, IReadOnlyList<string>? metaKeys = null) : IPipelineTransform
{
    public static readonly IReadOnlyList<string> DefaultMetaKeys =
        ["filename", "ori_filename", "ori_shape", "img_shape", "pad_shape", "scale_factor", "flip", "flip_direction", "img_norm_cfg"];

    public IReadOnlyList<string> Keys { get; } = keys;
    public IReadOnlyList<string> MetaKeys { get; } = metaKeys ?? DefaultMetaKeys;

    public DetSample? Apply(DetSample sample, Random rng)
    {
        var metas = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var key in MetaKeys)
        {
            if (!TryGet(sample, key, out var value))
                throw new DetSharpException($"Collect: meta key '{key}' is not in the sample; the transforms before Collect do not set it.");
            metas[key] = value;
        }
        foreach (var key in Keys)
            if (!TryGet(sample, key, out var v) || v is null)
                throw new DetSharpException($"Collect: key '{key}' is not in the sample (e.g. gt_masks needs LoadAnnotations(with_mask=True)).");
        sample.ImgMetas = metas;
        sample.CollectedKeys = Keys;
        return sample;
    }

    internal static bool TryGet(DetSample s, string key, out object? value)
    {
        value = key switch
        {
            "filename" => s.Filename,
            "ori_filename" => s.OriFilename,
            "ori_shape" => s.OriShape,
            "img_shape" => s.ImgShape,
            "pad_shape" => s.PadShape,
            "scale_factor" => s.ScaleFactor,
            "flip" => s.Flip,
            "flip_direction" => s.FlipDirection,
            "img_norm_cfg" => s.ImgNormCfg,
            "keep_ratio" => s.KeepRatio,
            "img" => (object?)s.ImageChw ?? s.Img,
            "gt_bboxes" => s.GtBboxes,
            "gt_labels" => s.GtLabels,
            "gt_bboxes_ignore" => s.GtBboxesIgnore,
            "gt_masks" => s.GtMasks,
            "img_info" => s.ImgInfo,
            "ann_info" => s.AnnInfo,
            _ => s.Meta.TryGetValue(key, out var v) ? v : Missing,
        };
        bool found = !ReferenceEquals(value, Missing) && (value is not null || key is "flip_direction" || s.Meta.ContainsKey(key));
        if (key is "flip" or "flip_direction" && s.Flip is null) found = false;
        if (ReferenceEquals(value, Missing)) value = null;
        return found;
    }

    private static readonly object Missing = new();
}

/// <summary>
/// MMDetection's <c>MultiScaleFlipAug</c>: for each scale (or scale factor) and each of [no flip] + [flip directions when
/// <c>flip</c>], the inner transforms run on a copy with <c>scale</c>, <c>flip</c>, <c>flip_direction</c> preset. The outputs
/// are in <see cref="DetSample.AugSamples"/> of the returned sample.
/// </summary>
[Register(Registries.PipelinesName, "MultiScaleFlipAug")]
public sealed class MultiScaleFlipAug : IPipelineTransform
{
    private readonly Compose _transforms;
    private readonly List<(int A, int B)> _scales = [];
    private readonly List<double> _factors = [];
    private readonly bool _flip;
    private readonly List<string> _flipDirections;

    public MultiScaleFlipAug(IReadOnlyList<Config.ConfigDict> transforms, object? imgScale = null, object? scaleFactor = null, bool flip = false,
        object? flipDirection = null)
    {
        _transforms = Compose.FromConfig(transforms);
        if ((imgScale is null) == (scaleFactor is null))
            throw new DetSharpException("MultiScaleFlipAug: give exactly one of img_scale and scale_factor.");
        if (imgScale is not null) _scales = TransformArgs.Scales(imgScale, "MultiScaleFlipAug img_scale");
        else if (scaleFactor is List<object?> fs) _factors = fs.Select(f => TransformArgs.Number(f, "MultiScaleFlipAug scale_factor")).ToList();
        else _factors = [TransformArgs.Number(scaleFactor, "MultiScaleFlipAug scale_factor")];
        _flip = flip;
        _flipDirections = TransformArgs.Strings(flipDirection ?? "horizontal", "MultiScaleFlipAug flip_direction");
    }

    public DetSample? Apply(DetSample sample, Random rng)
    {
        var flipArgs = new List<(bool, string?)> { (false, null) };
        if (_flip) foreach (var d in _flipDirections) flipArgs.Add((true, d));
        var outputs = new List<DetSample>();
        int n = Math.Max(_scales.Count, _factors.Count);
        for (int i = 0; i < n; i++)
        {
            foreach (var (flip, dir) in flipArgs)
            {
                var copy = sample.ShallowCopy();
                copy.AugSamples = null;
                if (_scales.Count > 0) copy.Scale = _scales[i];
                else copy.PresetScaleFactor = _factors[i];
                copy.Flip = flip;
                copy.FlipDirection = dir;
                copy.FlipDirectionSet = true;
                var result = _transforms.Apply(copy, rng) ?? throw new DetSharpException("MultiScaleFlipAug: an inner transform dropped the test sample.");
                outputs.Add(result);
            }
        }
        sample.SetImg(null);
        sample.AugSamples = outputs;
        return sample;
    }
}

/// <summary>MMDetection's <c>AutoAugment</c>: one policy (a list of transforms) chosen uniformly, applied in order.</summary>
[Register(Registries.PipelinesName, "AutoAugment")]
public sealed class AutoAugment : IPipelineTransform
{
    private readonly List<Compose> _policies = [];

    public AutoAugment(IReadOnlyList<IReadOnlyList<Config.ConfigDict>> policies)
    {
        if (policies.Count == 0) throw new DetSharpException("AutoAugment: policies must not be empty.");
        foreach (var policy in policies)
        {
            if (policy.Count == 0) throw new DetSharpException("AutoAugment: every policy needs at least one transform.");
            _policies.Add(Compose.FromConfig(policy));
        }
    }

    public DetSample? Apply(DetSample sample, Random rng) => _policies[rng.Next(_policies.Count)].Apply(sample, rng);
}

/// <summary>
/// MMDetection's <c>ToTensor</c>: DetSharp keeps pipeline data as arrays and makes the tensors when it collates a batch
/// (<c>DetCollate</c>), so this step only checks that each key is there, as MMDetection's <c>results[key]</c> does.
/// </summary>
[Register(Registries.PipelinesName, "ToTensor")]
public sealed class ToTensor(IReadOnlyList<string> keys) : IPipelineTransform
{
    public DetSample? Apply(DetSample sample, Random rng)
    {
        foreach (var key in keys)
            if (!Collect.TryGet(sample, key, out var v) || v is null)
                throw new DetSharpException($"ToTensor: key '{key}' is not in the sample; the transforms before ToTensor do not set it.");
        return sample;
    }
}

/// <summary>
/// MMDetection's <c>ToDataContainer</c>: DetSharp's collation already keeps per-image boxes (proposals, gt_bboxes) as a list
/// of tensors (<c>stack=False</c>) and stacks only the image, so this step only checks that each field's key is there.
/// </summary>
[Register(Registries.PipelinesName, "ToDataContainer")]
public sealed class ToDataContainer(IReadOnlyList<Config.ConfigDict>? fields = null) : IPipelineTransform
{
    public DetSample? Apply(DetSample sample, Random rng)
    {
        foreach (var field in fields ?? [])
        {
            string key = field.TryGetValue("key", out var k) && k is string s
                ? s : throw new DetSharpException("ToDataContainer: each field needs a 'key'.");
            if (!Collect.TryGet(sample, key, out var v) || v is null)
                throw new DetSharpException($"ToDataContainer: key '{key}' is not in the sample; the transforms before it do not set it.");
        }
        return sample;
    }
}

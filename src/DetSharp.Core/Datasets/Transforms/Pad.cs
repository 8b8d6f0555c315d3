using DetSharp.Config;
using DetSharp.Registry;
using OpenCvSharp;

namespace DetSharp.Datasets.Transforms;

/// <summary>
/// MMDetection's <c>Pad</c>: to a fixed (h, w) <c>size</c>, to multiples of <c>size_divisor</c>, or to a square
/// (<c>pad_to_square</c>, YOLOX; <c>pad_fixed_size</c> is then the square); bottom/right. <c>pad_val</c> is
/// <c>dict(img=..., masks=..., seg=...)</c> (defaults 0, 0, 255; img a number or one value per channel, as YOLOX's
/// <c>(114.0, 114.0, 114.0)</c>) or one number for img and masks. A plain number for img fills the first channel only, as
/// mmcv's <c>impad</c> hands it to cv2. Segmentation maps (HTC's stuff maps) are padded with <c>seg</c>.
/// </summary>
[Register(Registries.PipelinesName, "Pad")]
public sealed class Pad : IPipelineTransform
{
    private readonly (int H, int W)? _size;
    private readonly int? _divisor;
    private readonly bool _square;
    private readonly Scalar _imgVal;
    private readonly byte _maskVal;
    private readonly byte _segVal = 255;

    public Pad(object? size = null, int? sizeDivisor = null, bool padToSquare = false, object? padVal = null)
    {
        if (size is not null)
        {
            var (h, w) = TransformArgs.Pair(size, "Pad size");
            _size = (h, w);
        }
        _divisor = sizeDivisor;
        _square = padToSquare;
        if (padToSquare ? size is not null || sizeDivisor is not null : (size is null) == (sizeDivisor is null))
            throw new DetSharpException("Pad: give exactly one of size and size_divisor (or pad_to_square=True alone).");
        switch (padVal)
        {
            case null:
                _imgVal = new Scalar(0); _maskVal = 0;
                break;
            case ConfigDict d:
                foreach (var key in d.Keys)
                    if (key is not ("img" or "masks" or "seg"))
                        throw new DetSharpException($"Pad: pad_val has an unknown key '{key}'; it takes img, masks and seg.");
                _imgVal = d.TryGetValue("img", out var iv) ? ImageValue(iv) : new Scalar(0);
                _maskVal = d.TryGetValue("masks", out var mv) ? (byte)TransformArgs.Number(mv, "Pad pad_val.masks") : (byte)0;
                _segVal = d.TryGetValue("seg", out var sv) ? (byte)TransformArgs.Number(sv, "Pad pad_val.seg") : (byte)255;
                break;
            default:
                double v = TransformArgs.Number(padVal, "Pad pad_val");
                _imgVal = new Scalar(v);
                _maskVal = (byte)v;
                break;
        }
    }

    /// <summary>cv2 reads a plain number as Scalar(v, 0, 0, 0), as mmcv passes it; a tuple gives one value per channel.</summary>
    private static Scalar ImageValue(object? value)
    {
        if (value is not List<object?> values) return new Scalar(TransformArgs.Number(value, "Pad pad_val.img"));
        if (values.Count is < 1 or > 4) throw new DetSharpException($"Pad: pad_val.img must be a number or one value per channel, got {values.Count} values.");
        var v = values.Select(x => TransformArgs.Number(x, "Pad pad_val.img")).ToArray();
        return new Scalar(v[0], v.Length > 1 ? v[1] : 0, v.Length > 2 ? v[2] : 0, v.Length > 3 ? v[3] : 0);
    }

    public DetSample? Apply(DetSample sample, Random rng)
    {
        var img = sample.Img!;
        int h = img.Rows, w = img.Cols, channels = img.Channels(), th, tw;
        if (_square) th = tw = Math.Max(h, w);
        else if (_size is { } size) (th, tw) = size;
        else
        {
            int d = _divisor!.Value;
            th = (h + d - 1) / d * d;
            tw = (w + d - 1) / d * d;
        }
        if (th < h || tw < w) throw new DetSharpException($"Pad: the image is {h}x{w}, larger than the pad size {th}x{tw}.");
        if (th != h || tw != w)
        {
            var padded = new Mat();
            Cv2.CopyMakeBorder(img, padded, 0, th - h, 0, tw - w, BorderTypes.Constant, _imgVal);
            sample.SetImg(padded);
        }
        sample.PadShape = new ImageShape(th, tw, channels);
        sample.PadFixedSize = _square ? (th, tw) : _size;
        sample.PadSizeDivisor = _divisor;
        foreach (var key in sample.MaskFields)
        {
            var m = sample.GetMasks(key);
            if (m is not null) sample.SetMasks(key, m.Pad(th, tw, _maskVal));
        }
        foreach (var key in sample.SegFields)
        {
            var seg = sample.GetSeg(key);
            if (seg is not null) sample.SetSeg(key, seg.Pad(th, tw, _segVal));
        }
        return sample;
    }
}

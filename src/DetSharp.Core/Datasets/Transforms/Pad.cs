using DetSharp.Config;
using DetSharp.Registry;
using OpenCvSharp;

namespace DetSharp.Datasets.Transforms;

/// <summary>
/// MMDetection's <c>Pad</c>: to a fixed (h, w) <c>size</c>, to multiples of <c>size_divisor</c>, or to a square; bottom/right;
/// pad values img 0, masks 0, seg 255 (dict <c>pad_val</c>, or one number for img and masks as MMDetection takes it).
/// </summary>
[Register(Registries.PipelinesName, "Pad")]
public sealed class Pad : IPipelineTransform
{
    private readonly (int H, int W)? _size;
    private readonly int? _divisor;
    private readonly bool _square;
    private readonly double _imgVal;
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
                _imgVal = 0; _maskVal = 0;
                break;
            case ConfigDict d:
                _imgVal = d.TryGetValue("img", out var iv) ? TransformArgs.Number(iv, "Pad pad_val.img") : 0;
                _maskVal = d.TryGetValue("masks", out var mv) ? (byte)TransformArgs.Number(mv, "Pad pad_val.masks") : (byte)0;
                _segVal = d.TryGetValue("seg", out var sv) ? (byte)TransformArgs.Number(sv, "Pad pad_val.seg") : (byte)255;
                break;
            default:
                _imgVal = TransformArgs.Number(padVal, "Pad pad_val");
                _maskVal = (byte)_imgVal;
                break;
        }
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
            // cv2 reads a plain number as Scalar(v, 0, 0, 0), as mmcv passes it
            Cv2.CopyMakeBorder(img, padded, 0, th - h, 0, tw - w, BorderTypes.Constant, new Scalar(_imgVal));
            sample.SetImg(padded);
        }
        sample.PadShape = new ImageShape(th, tw, channels);
        sample.PadFixedSize = _size;
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

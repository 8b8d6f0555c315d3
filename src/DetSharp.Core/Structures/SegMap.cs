using OpenCvSharp;

namespace DetSharp.Structures;

/// <summary>
/// A semantic segmentation map (MMDetection's <c>gt_semantic_seg</c>, an h×w uint8 array of class ids, 255 = ignore) with
/// the operations the pipeline applies to it as mmcv does on such arrays: nearest-neighbour resizing, flipping and
/// bottom/right padding.
/// </summary>
public sealed class SegMap
{
    public SegMap(byte[] data, int height, int width)
    {
        if (data.Length != height * width)
            throw new ArgumentException($"a {height}x{width} segmentation map needs {height * width} values, got {data.Length}.", nameof(data));
        Data = data;
        Height = height;
        Width = width;
    }

    /// <summary>Row-major class ids.</summary>
    public byte[] Data { get; }

    public int Height { get; }

    public int Width { get; }

    /// <summary>mmcv <c>imresize(seg, (w, h), interpolation='nearest')</c>.</summary>
    public SegMap Resize(int newHeight, int newWidth) =>
        new(CvInterop.Resize(Data, Height, Width, newHeight, newWidth, InterpolationFlags.Nearest), newHeight, newWidth);

    /// <summary>mmcv <c>imrescale(seg, (a, b), interpolation='nearest')</c>: the largest size that fits the scale, ratio kept.</summary>
    public SegMap Rescale(int scaleA, int scaleB)
    {
        var (w, h, _) = ImageGeometry.RescaleSize(Width, Height, scaleA, scaleB);
        return Resize(h, w);
    }

    /// <summary>mmcv <c>imrescale(seg, factor, interpolation='nearest')</c> (<c>SegRescale</c>).</summary>
    public SegMap Rescale(double factor)
    {
        var (w, h) = ImageGeometry.RescaleSize(Width, Height, factor);
        return Resize(h, w);
    }

    /// <summary>mmcv <c>imflip</c>.</summary>
    public SegMap Flip(FlipDirection direction)
    {
        using var src = CvInterop.Wrap(Data, Height, Width);
        using var dst = new Mat();
        Cv2.Flip(src, dst, direction switch { FlipDirection.Horizontal => FlipMode.Y, FlipDirection.Vertical => FlipMode.X, _ => FlipMode.XY });
        return new SegMap(CvInterop.ToBytes(dst), Height, Width);
    }

    /// <summary>The [y1, y2) × [x1, x2) window (numpy's <c>seg[y1:y2, x1:x2]</c>, as RandomCrop takes it).</summary>
    public SegMap Crop(int x1, int y1, int x2, int y2)
    {
        if (x1 < 0 || y1 < 0 || x2 > Width || y2 > Height || x2 < x1 || y2 < y1)
            throw new ArgumentException($"the window [{x1}, {x2}) x [{y1}, {y2}) is outside the {Height}x{Width} segmentation map.");
        int w = x2 - x1, h = y2 - y1;
        var o = new byte[h * w];
        for (int y = 0; y < h; y++) Data.AsSpan((y1 + y) * Width + x1, w).CopyTo(o.AsSpan(y * w, w));
        return new SegMap(o, h, w);
    }

    /// <summary>mmcv <c>impad(seg, shape=(h, w), pad_val)</c>: bottom/right to <paramref name="outHeight"/>×<paramref name="outWidth"/>.</summary>
    public SegMap Pad(int outHeight, int outWidth, byte padValue)
    {
        if (outHeight < Height || outWidth < Width)
            throw new ArgumentException($"cannot pad a {Height}x{Width} segmentation map to {outHeight}x{outWidth}.");
        var o = new byte[outHeight * outWidth];
        Array.Fill(o, padValue);
        for (int y = 0; y < Height; y++) Data.AsSpan(y * Width, Width).CopyTo(o.AsSpan(y * outWidth, Width));
        return new SegMap(o, outHeight, outWidth);
    }
}

using OpenCvSharp;

namespace DetSharp.Structures;

/// <summary>
/// MMDetection's <c>BitmapMasks</c>: one H×W plane of 0/1 bytes per instance (row-major). Every operation returns a new
/// object and never changes this one; the planes are shared only when an operation leaves them unchanged.
/// </summary>
public sealed class BitmapMasks : IInstanceMasks
{
    private readonly byte[][] _masks;

    public BitmapMasks(byte[][] masks, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(masks);
        long size = (long)height * width;
        for (int i = 0; i < masks.Length; i++)
            if (masks[i].Length != size)
                throw new ArgumentException($"mask {i} has {masks[i].Length} bytes; a {height}x{width} mask needs {size}.");
        _masks = masks;
        Height = height;
        Width = width;
    }

    public static BitmapMasks Empty(int height, int width) => new([], height, width);

    public int Count => _masks.Length;

    public int Height { get; }

    public int Width { get; }

    /// <summary>The row-major 0/1 plane of instance <paramref name="index"/> (not copied: treat as read-only).</summary>
    public byte[] this[int index] => _masks[index];

    /// <summary>The instances at <paramref name="indices"/> (MMDetection's <c>masks[inds]</c>).</summary>
    public BitmapMasks Select(ReadOnlySpan<int> indices)
    {
        var selected = new byte[indices.Length][];
        for (int i = 0; i < indices.Length; i++) selected[i] = _masks[indices[i]];
        return new BitmapMasks(selected, Height, Width);
    }

    IInstanceMasks IInstanceMasks.Select(ReadOnlySpan<int> indices) => Select(indices);

    /// <summary>Resizes every plane to <paramref name="outHeight"/>×<paramref name="outWidth"/> with cv2 nearest (<c>resize</c>).</summary>
    public BitmapMasks Resize(int outHeight, int outWidth) =>
        Map(outHeight, outWidth, m => CvInterop.Resize(m, Height, Width, outHeight, outWidth, InterpolationFlags.Nearest));

    IInstanceMasks IInstanceMasks.Resize(int outHeight, int outWidth) => Resize(outHeight, outWidth);

    /// <summary><c>rescale(scale)</c>: keep-ratio resize to the size mmcv's <c>rescale_size</c> gives for the (a, b) scale.</summary>
    public BitmapMasks Rescale(int scaleA, int scaleB)
    {
        var (w, h, _) = ImageGeometry.RescaleSize(Width, Height, scaleA, scaleB);
        return Resize(h, w);
    }

    IInstanceMasks IInstanceMasks.Rescale(int scaleA, int scaleB) => Rescale(scaleA, scaleB);

    public BitmapMasks Flip(FlipDirection direction)
    {
        int h = Height, w = Width;
        return Map(h, w, m =>
        {
            var o = new byte[m.Length];
            for (int y = 0; y < h; y++)
            {
                int sy = direction == FlipDirection.Horizontal ? y : h - 1 - y;
                var src = m.AsSpan(sy * w, w);
                var dst = o.AsSpan(y * w, w);
                if (direction == FlipDirection.Vertical) src.CopyTo(dst);
                else
                    for (int x = 0; x < w; x++) dst[x] = src[w - 1 - x];
            }
            return o;
        });
    }

    IInstanceMasks IInstanceMasks.Flip(FlipDirection direction) => Flip(direction);

    /// <summary>Pads bottom/right to <paramref name="outHeight"/>×<paramref name="outWidth"/> with <paramref name="padValue"/>.</summary>
    public BitmapMasks Pad(int outHeight, int outWidth, byte padValue = 0)
    {
        if (outHeight < Height || outWidth < Width)
            throw new ArgumentException($"cannot pad {Height}x{Width} masks to the smaller {outHeight}x{outWidth}.");
        int h = Height, w = Width;
        return Map(outHeight, outWidth, m =>
        {
            var o = new byte[outHeight * outWidth];
            if (padValue != 0) o.AsSpan().Fill(padValue);
            for (int y = 0; y < h; y++) m.AsSpan(y * w, w).CopyTo(o.AsSpan(y * outWidth, w));
            return o;
        });
    }

    IInstanceMasks IInstanceMasks.Pad(int outHeight, int outWidth, byte padValue) => Pad(outHeight, outWidth, padValue);

    /// <summary>
    /// <c>crop(bbox)</c>: the box (x1, y1, x2, y2, integer pixels) is clipped to the image, the region
    /// <c>[y1, y1+max(y2−y1,1)) × [x1, x1+max(x2−x1,1))</c> is kept (as numpy slicing, truncated at the border).
    /// </summary>
    public BitmapMasks Crop(int x1, int y1, int x2, int y2)
    {
        x1 = Math.Clamp(x1, 0, Width); x2 = Math.Clamp(x2, 0, Width);
        y1 = Math.Clamp(y1, 0, Height); y2 = Math.Clamp(y2, 0, Height);
        int cw = Math.Min(Math.Max(x2 - x1, 1), Width - x1), ch = Math.Min(Math.Max(y2 - y1, 1), Height - y1);
        int w = Width;
        return Map(ch, cw, m =>
        {
            var o = new byte[ch * cw];
            for (int y = 0; y < ch; y++) m.AsSpan((y1 + y) * w + x1, cw).CopyTo(o.AsSpan(y * cw, cw));
            return o;
        });
    }

    IInstanceMasks IInstanceMasks.Crop(int x1, int y1, int x2, int y2) => Crop(x1, y1, x2, y2);

    /// <summary>
    /// mmcv <c>imrotate</c> on the planes (bilinear, border <paramref name="fillValue"/>): positive angles turn clockwise about
    /// (<paramref name="centerX"/>, <paramref name="centerY"/>); the canvas becomes <paramref name="outHeight"/>×<paramref name="outWidth"/>.
    /// </summary>
    public BitmapMasks Rotate(int outHeight, int outWidth, double angle, double centerX, double centerY, double scale = 1.0, byte fillValue = 0)
    {
        var matrix = ImageGeometry.RotationMatrix(centerX, centerY, angle, scale);
        return Warp(outHeight, outWidth, matrix, fillValue);
    }

    IInstanceMasks IInstanceMasks.Rotate(int outHeight, int outWidth, double angle, double centerX, double centerY, double scale) =>
        Rotate(outHeight, outWidth, angle, centerX, centerY, scale);

    /// <summary>mmcv <c>imtranslate</c>: shift by <paramref name="offset"/> pixels (right or down when positive), border filled.</summary>
    public BitmapMasks Translate(int outHeight, int outWidth, double offset, AxisDirection direction, byte fillValue = 0)
    {
        double[] matrix = direction == AxisDirection.Horizontal ? [1, 0, (float)offset, 0, 1, 0] : [1, 0, 0, 0, 1, (float)offset];
        return Warp(outHeight, outWidth, matrix, fillValue);
    }

    IInstanceMasks IInstanceMasks.Translate(int outHeight, int outWidth, double offset, AxisDirection direction) =>
        Translate(outHeight, outWidth, offset, direction);

    /// <summary>mmcv <c>imshear</c>: x' = x + m·y (horizontal) or y' = y + m·x (vertical), bilinear, border filled.</summary>
    public BitmapMasks Shear(int outHeight, int outWidth, double magnitude, AxisDirection direction, byte fillValue = 0)
    {
        double m = (float)magnitude;
        double[] matrix = direction == AxisDirection.Horizontal ? [1, m, 0, 0, 1, 0] : [1, 0, 0, m, 1, 0];
        return Warp(outHeight, outWidth, matrix, fillValue);
    }

    IInstanceMasks IInstanceMasks.Shear(int outHeight, int outWidth, double magnitude, AxisDirection direction) =>
        Shear(outHeight, outWidth, magnitude, direction);

    private BitmapMasks Warp(int outHeight, int outWidth, double[] matrix, byte fill) =>
        Map(outHeight, outWidth, m => CvInterop.WarpAffine(m, Height, Width, matrix, outHeight, outWidth, InterpolationFlags.Linear, fill));

    /// <summary>
    /// Mask targets as MMDetection 2.x makes them from bitmaps: RoIAlign (aligned=True, average, sampling_ratio 0,
    /// spatial scale 1) of mask <c>indices[i]</c> over <c>boxes[4i..4i+4]</c>, then <c>≥ 0.5</c>.
    /// </summary>
    public float[] CropAndResize(ReadOnlySpan<float> boxes, ReadOnlySpan<int> indices, int outHeight, int outWidth)
    {
        if (boxes.Length != indices.Length * 4)
            throw new ArgumentException($"{indices.Length} indices need {indices.Length * 4} box values, got {boxes.Length}.");
        int n = indices.Length, cell = outHeight * outWidth;
        var output = new float[n * cell];
        if (n == 0) return output;
        var boxArray = boxes.ToArray();
        var idx = indices.ToArray();
        foreach (int i in idx)
            if ((uint)i >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(indices), $"mask index {i} is outside 0..{Count - 1}.");
        Parallel.For(0, n, i =>
        {
            var dst = output.AsSpan(i * cell, cell);
            RoiAlign.AlignedAverage(_masks[idx[i]], Height, Width, boxArray.AsSpan(i * 4, 4), outHeight, outWidth, dst);
            for (int k = 0; k < dst.Length; k++) dst[k] = dst[k] >= 0.5f ? 1f : 0f;
        });
        return output;
    }

    /// <summary>Pixel counts per instance (<c>areas</c>).</summary>
    public double[] Areas()
    {
        var areas = new double[Count];
        for (int i = 0; i < Count; i++)
        {
            long sum = 0;
            foreach (byte b in _masks[i]) sum += b;
            areas[i] = sum;
        }
        return areas;
    }

    public BitmapMasks ToBitmap() => this;

    BitmapMasks IInstanceMasks.ToBitmap() => this;

    /// <summary>
    /// Tight boxes <c>[x1, y1, x2 + 1, y2 + 1]</c> of the set pixels (MMDetection's <c>get_bboxes</c>); empty masks give zeros.
    /// </summary>
    public float[] GetBboxes()
    {
        var boxes = new float[Count * 4];
        for (int i = 0; i < Count; i++)
        {
            int x1 = int.MaxValue, y1 = int.MaxValue, x2 = -1, y2 = -1;
            var m = _masks[i];
            for (int y = 0; y < Height; y++)
            {
                var row = m.AsSpan(y * Width, Width);
                int first = row.IndexOfAnyExcept((byte)0);
                if (first < 0) continue;
                int last = row.LastIndexOfAnyExcept((byte)0);
                x1 = Math.Min(x1, first); x2 = Math.Max(x2, last);
                y1 = Math.Min(y1, y); y2 = y;
            }
            if (x2 < 0) continue;
            boxes[i * 4] = x1; boxes[i * 4 + 1] = y1; boxes[i * 4 + 2] = x2 + 1; boxes[i * 4 + 3] = y2 + 1;
        }
        return boxes;
    }

    private BitmapMasks Map(int outHeight, int outWidth, Func<byte[], byte[]> map)
    {
        var result = new byte[Count][];
        if (Count > 1) Parallel.For(0, Count, i => result[i] = map(_masks[i]));
        else if (Count == 1) result[0] = map(_masks[0]);
        return new BitmapMasks(result, outHeight, outWidth);
    }
}

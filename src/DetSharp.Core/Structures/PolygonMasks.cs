namespace DetSharp.Structures;

/// <summary>
/// MMDetection's <c>PolygonMasks</c>: per instance a list of polygons, each a flat <c>[x0, y0, x1, y1, ...]</c> array of
/// doubles. Operations return new objects; polygons are rasterised with pycocotools' <c>frPoly</c> (COCO RLE semantics).
/// </summary>
public sealed class PolygonMasks : IInstanceMasks
{
    private readonly double[][][] _masks;

    public PolygonMasks(double[][][] masks, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(masks);
        _masks = masks;
        Height = height;
        Width = width;
    }

    public int Count => _masks.Length;

    public int Height { get; }

    public int Width { get; }

    /// <summary>The polygons of instance <paramref name="index"/> (not copied: treat as read-only).</summary>
    public double[][] this[int index] => _masks[index];

    public PolygonMasks Select(ReadOnlySpan<int> indices)
    {
        var selected = new double[indices.Length][][];
        for (int i = 0; i < indices.Length; i++) selected[i] = _masks[indices[i]];
        return new PolygonMasks(selected, Height, Width);
    }

    IInstanceMasks IInstanceMasks.Select(ReadOnlySpan<int> indices) => Select(indices);

    public PolygonMasks Resize(int outHeight, int outWidth)
    {
        double hScale = (double)outHeight / Height, wScale = (double)outWidth / Width;
        return Map(outHeight, outWidth, p =>
        {
            var q = new double[p.Length];
            for (int k = 0; k + 1 < p.Length; k += 2) { q[k] = p[k] * wScale; q[k + 1] = p[k + 1] * hScale; }
            if ((p.Length & 1) == 1) q[^1] = p[^1] * wScale;
            return q;
        });
    }

    IInstanceMasks IInstanceMasks.Resize(int outHeight, int outWidth) => Resize(outHeight, outWidth);

    public PolygonMasks Rescale(int scaleA, int scaleB)
    {
        var (w, h, _) = ImageGeometry.RescaleSize(Width, Height, scaleA, scaleB);
        return Count == 0 ? new PolygonMasks([], h, w) : Resize(h, w);
    }

    IInstanceMasks IInstanceMasks.Rescale(int scaleA, int scaleB) => Rescale(scaleA, scaleB);

    public PolygonMasks Flip(FlipDirection direction)
    {
        double w = Width, h = Height;
        return Map(Height, Width, p =>
        {
            var q = (double[])p.Clone();
            if (direction != FlipDirection.Vertical)
                for (int k = 0; k < q.Length; k += 2) q[k] = w - q[k];
            if (direction != FlipDirection.Horizontal)
                for (int k = 1; k < q.Length; k += 2) q[k] = h - q[k];
            return q;
        });
    }

    IInstanceMasks IInstanceMasks.Flip(FlipDirection direction) => Flip(direction);

    /// <summary>Polygons are unchanged; only the size is updated.</summary>
    public PolygonMasks Pad(int outHeight, int outWidth) => new(_masks, outHeight, outWidth);

    IInstanceMasks IInstanceMasks.Pad(int outHeight, int outWidth, byte padValue) => Pad(outHeight, outWidth);

    /// <summary>MMDetection 2.x <c>crop</c>: the box is clipped to the image and polygons are shifted by (−x1, −y1), not clipped.</summary>
    public PolygonMasks Crop(int x1, int y1, int x2, int y2)
    {
        x1 = Math.Clamp(x1, 0, Width); x2 = Math.Clamp(x2, 0, Width);
        y1 = Math.Clamp(y1, 0, Height); y2 = Math.Clamp(y2, 0, Height);
        int w = Math.Max(x2 - x1, 1), h = Math.Max(y2 - y1, 1);
        return Map(h, w, p =>
        {
            var q = (double[])p.Clone();
            for (int k = 0; k < q.Length; k++) q[k] -= (k & 1) == 0 ? x1 : y1;
            return q;
        });
    }

    IInstanceMasks IInstanceMasks.Crop(int x1, int y1, int x2, int y2) => Crop(x1, y1, x2, y2);

    /// <summary>Vertices through <c>getRotationMatrix2D(center, −angle, scale)</c>, clipped to the out canvas.</summary>
    public PolygonMasks Rotate(int outHeight, int outWidth, double angle, double centerX, double centerY, double scale = 1.0)
    {
        var m = ImageGeometry.RotationMatrix(centerX, centerY, angle, scale);
        return Affine(outHeight, outWidth, m);
    }

    IInstanceMasks IInstanceMasks.Rotate(int outHeight, int outWidth, double angle, double centerX, double centerY, double scale) =>
        Rotate(outHeight, outWidth, angle, centerX, centerY, scale);

    /// <summary>Shifts the x (or y) coordinates and clips them to [0, W] (or [0, H]).</summary>
    public PolygonMasks Translate(int outHeight, int outWidth, double offset, AxisDirection direction)
    {
        int start = direction == AxisDirection.Horizontal ? 0 : 1;
        double limit = direction == AxisDirection.Horizontal ? outWidth : outHeight;
        return Map(outHeight, outWidth, p =>
        {
            var q = (double[])p.Clone();
            for (int k = start; k < q.Length; k += 2) q[k] = Math.Clamp(q[k] + offset, 0, limit);
            return q;
        });
    }

    IInstanceMasks IInstanceMasks.Translate(int outHeight, int outWidth, double offset, AxisDirection direction) =>
        Translate(outHeight, outWidth, offset, direction);

    public PolygonMasks Shear(int outHeight, int outWidth, double magnitude, AxisDirection direction)
    {
        double m = (float)magnitude;
        double[] matrix = direction == AxisDirection.Horizontal ? [1, m, 0, 0, 1, 0] : [1, 0, 0, m, 1, 0];
        return Affine(outHeight, outWidth, matrix);
    }

    IInstanceMasks IInstanceMasks.Shear(int outHeight, int outWidth, double magnitude, AxisDirection direction) =>
        Shear(outHeight, outWidth, magnitude, direction);

    private PolygonMasks Affine(int outHeight, int outWidth, double[] m) => Map(outHeight, outWidth, p =>
    {
        var q = new double[p.Length / 2 * 2];
        for (int k = 0; k + 1 < p.Length; k += 2)
        {
            double x = p[k], y = p[k + 1];
            q[k] = Math.Clamp(m[0] * x + m[1] * y + m[2], 0, outWidth);
            q[k + 1] = Math.Clamp(m[3] * x + m[4] * y + m[5], 0, outHeight);
        }
        return q;
    });

    /// <summary>
    /// MMDetection 2.x mask targets from polygons: for RoI i, instance <c>indices[i]</c>'s polygons are shifted by
    /// (−x1, −y1), scaled by out/max(w, 1) per axis, rasterised with frPoly at the out size and merged.
    /// </summary>
    public float[] CropAndResize(ReadOnlySpan<float> boxes, ReadOnlySpan<int> indices, int outHeight, int outWidth)
    {
        if (boxes.Length != indices.Length * 4)
            throw new ArgumentException($"{indices.Length} indices need {indices.Length * 4} box values, got {boxes.Length}.");
        int n = indices.Length, cell = outHeight * outWidth;
        var output = new float[n * cell];
        var boxArray = boxes.ToArray();
        var idx = indices.ToArray();
        Parallel.For(0, n, i =>
        {
            float x1 = boxArray[i * 4], y1 = boxArray[i * 4 + 1], x2 = boxArray[i * 4 + 2], y2 = boxArray[i * 4 + 3];
            float w = MathF.Max(x2 - x1, 1), h = MathF.Max(y2 - y1, 1);
            double hScale = outHeight / (double)MathF.Max(h, 0.1f), wScale = outWidth / (double)MathF.Max(w, 0.1f);
            var polys = _masks[idx[i]];
            var moved = new double[polys.Length][];
            for (int j = 0; j < polys.Length; j++)
            {
                var p = polys[j];
                var q = new double[p.Length];
                for (int k = 0; k < p.Length; k++)
                    q[k] = (k & 1) == 0 ? (p[k] - x1) * wScale : (p[k] - y1) * hScale;
                moved[j] = q;
            }
            var bitmap = Rasterize(moved, outHeight, outWidth);
            var dst = output.AsSpan(i * cell, cell);
            for (int k = 0; k < cell; k++) dst[k] = bitmap[k];
        });
        return output;
    }

    /// <summary>Shoelace area of every polygon, summed per instance (<c>areas</c>).</summary>
    public double[] Areas()
    {
        var areas = new double[Count];
        for (int i = 0; i < Count; i++)
        {
            double total = 0;
            foreach (var p in _masks[i])
            {
                int n = p.Length / 2;
                if (n == 0) continue;
                double a = 0, b = 0;
                for (int k = 0; k < n; k++)
                {
                    int prev = (k + n - 1) % n;
                    a += p[2 * k] * p[2 * prev + 1];
                    b += p[2 * k + 1] * p[2 * prev];
                }
                total += 0.5 * Math.Abs(a - b);
            }
            areas[i] = total;
        }
        return areas;
    }

    /// <summary><c>to_bitmap</c>: each instance rasterised with frPyObjects + merge + decode at this size.</summary>
    public BitmapMasks ToBitmap()
    {
        var planes = new byte[Count][];
        Parallel.For(0, Count, i => planes[i] = Rasterize(_masks[i], Height, Width));
        return new BitmapMasks(planes, Height, Width);
    }

    /// <summary>One instance's polygons to a row-major 0/1 plane (pycocotools frPyObjects + merge + decode).</summary>
    public static byte[] Rasterize(double[][] polygons, int height, int width)
    {
        if (polygons.Length == 0) return new byte[height * width];
        var rles = RleConvert.FrPolygonsOrBoxes(polygons, height, width);
        return (rles.Length == 1 ? rles[0] : Rle.Merge(rles)).Decode();
    }

    private PolygonMasks Map(int outHeight, int outWidth, Func<double[], double[]> map)
    {
        var result = new double[Count][][];
        for (int i = 0; i < Count; i++)
        {
            var polys = _masks[i];
            var mapped = new double[polys.Length][];
            for (int j = 0; j < polys.Length; j++) mapped[j] = map(polys[j]);
            result[i] = mapped;
        }
        return new PolygonMasks(result, outHeight, outWidth);
    }
}

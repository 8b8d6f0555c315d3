namespace DetSharp.Structures;

/// <summary>
/// Polygon and box rasterisation to RLE, exactly as pycocotools' <c>rleFrPoly</c> / <c>rleFrBbox</c>:
/// vertices are scaled by 5 and rounded with C's <c>(int)(v + .5)</c>, the boundary is walked densely,
/// and the y-boundary crossings are downsampled back to pixel centres.
/// </summary>
public static class RlePolygon
{
    private const double Scale = 5;

    /// <summary>Rasterises one polygon given as flat <c>[x0, y0, x1, y1, ...]</c> (an odd trailing value is ignored).</summary>
    public static Rle FromPolygon(ReadOnlySpan<double> xy, int height, int width)
    {
        int k = xy.Length / 2;
        var x = new int[k + 1];
        var y = new int[k + 1];
        for (int j = 0; j < k; j++) x[j] = CInt(Scale * xy[j * 2] + .5);
        x[k] = k > 0 ? x[0] : 0;
        for (int j = 0; j < k; j++) y[j] = CInt(Scale * xy[j * 2 + 1] + .5);
        y[k] = k > 0 ? y[0] : 0;
        long total = 0;
        for (int j = 0; j < k; j++)
            total += (long)Math.Max((uint)Math.Abs(x[j] - x[j + 1]), (uint)Math.Abs(y[j] - y[j + 1])) + 1;
        var u = new int[total];
        var v = new int[total];
        int m = 0;
        for (int j = 0; j < k; j++)
        {
            int xs = x[j], xe = x[j + 1], ys = y[j], ye = y[j + 1];
            int dx = Math.Abs(xe - xs), dy = Math.Abs(ys - ye);
            bool flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
            if (flip) { (xs, xe) = (xe, xs); (ys, ye) = (ye, ys); }
            double s = dx >= dy ? (double)(ye - ys) / dx : (double)(xe - xs) / dy;
            if (dx >= dy)
            {
                for (int d = 0; d <= dx; d++)
                {
                    int t = flip ? dx - d : d;
                    u[m] = t + xs; v[m] = CInt(ys + s * t + .5); m++;
                }
            }
            else
            {
                for (int d = 0; d <= dy; d++)
                {
                    int t = flip ? dy - d : d;
                    v[m] = t + ys; u[m] = CInt(xs + s * t + .5); m++;
                }
            }
        }

        // points along the y-boundary, downsampled; then the RLE from sorted linear indices
        int n = m;
        var a = new uint[n + 1];
        int count = 0;
        double wm1 = (double)((ulong)width - 1), hd = (ulong)height;
        for (int j = 1; j < n; j++)
        {
            if (u[j] == u[j - 1]) continue;
            double xd = u[j] < u[j - 1] ? u[j] : u[j] - 1;
            xd = (xd + .5) / Scale - .5;
            if (Math.Floor(xd) != xd || xd < 0 || xd > wm1) continue;
            double yd = v[j] < v[j - 1] ? v[j] : v[j - 1];
            yd = (yd + .5) / Scale - .5;
            if (yd < 0) yd = 0; else if (yd > hd) yd = hd;
            yd = Math.Ceiling(yd);
            a[count++] = unchecked((uint)((int)xd * height + (int)yd));
        }
        a[count++] = unchecked((uint)((ulong)height * (ulong)width));
        Array.Sort(a, 0, count);
        uint previous = 0;
        for (int j = 0; j < count; j++) { uint t = a[j]; a[j] -= previous; previous = t; }
        var b = new uint[count];
        int jj = 0, mm = 0;
        b[mm++] = a[jj++];
        while (jj < count)
        {
            if (a[jj] > 0) b[mm++] = a[jj++];
            else
            {
                jj++;
                if (jj < count) b[mm - 1] += a[jj++];
            }
        }
        return new Rle(height, width, b.AsSpan(0, mm).ToArray());
    }

    /// <summary>Rasterises a box <c>[x, y, w, h]</c> as the polygon (xs,ys),(xs,ye),(xe,ye),(xe,ys) (<c>rleFrBbox</c>).</summary>
    public static Rle FromBbox(BoxXywh box, int height, int width)
    {
        double xs = box.X, xe = xs + box.W, ys = box.Y, ye = ys + box.H;
        ReadOnlySpan<double> xy = [xs, ys, xs, ye, xe, ye, xe, ys];
        return FromPolygon(xy, height, width);
    }

    /// <summary>C's double-to-int conversion as x86-64 does it: truncation, and INT_MIN for NaN or out of range.</summary>
    internal static int CInt(double value) =>
        value is >= -2147483648.0 and < 2147483648.0 ? (int)value : int.MinValue;
}

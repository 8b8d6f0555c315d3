namespace DetSharp.Structures;

/// <summary>
/// IoU between detections and ground truths, as pycocotools' <c>mask.iou</c> (<c>rleIou</c> / <c>bbIou</c>):
/// the result is a D×G row-major matrix (<c>iou[d * G + g]</c>); for a crowd ground truth the denominator
/// is the detection's area alone (the fraction of the detection inside the crowd region).
/// </summary>
public static class MaskIou
{
    /// <summary>Box IoU (<c>bbIou</c>). <paramref name="iscrowd"/> may be empty (no crowds) or have one flag per gt.</summary>
    public static void BoxIou(ReadOnlySpan<BoxXywh> dt, ReadOnlySpan<BoxXywh> gt, ReadOnlySpan<bool> iscrowd, Span<double> iou)
    {
        int m = dt.Length, n = gt.Length;
        CheckShapes(m, n, iscrowd.Length, iou.Length);
        for (int g = 0; g < n; g++)
        {
            var G = gt[g];
            double ga = G.W * G.H;
            bool crowd = iscrowd.Length > 0 && iscrowd[g];
            for (int d = 0; d < m; d++)
            {
                iou[d * n + g] = BoxPair(dt[d], G, ga, crowd);
            }
        }
    }

    internal static double BoxPair(in BoxXywh D, in BoxXywh G, double ga, bool crowd)
    {
        double da = D.W * D.H;
        double w = Math.Min(D.W + D.X, G.W + G.X) - Math.Max(D.X, G.X);
        if (w <= 0) return 0;
        double h = Math.Min(D.H + D.Y, G.H + G.Y) - Math.Max(D.Y, G.Y);
        if (h <= 0) return 0;
        double i = w * h;
        double u = crowd ? da : da + ga - i;
        return i / u;
    }

    /// <summary>Box IoU returning a new D×G matrix.</summary>
    public static double[,] BoxIou(IReadOnlyList<BoxXywh> dt, IReadOnlyList<BoxXywh> gt, IReadOnlyList<bool>? iscrowd = null)
    {
        var d = dt.ToArray();
        var g = gt.ToArray();
        var flat = new double[d.Length * g.Length];
        BoxIou(d, g, iscrowd?.ToArray() ?? [], flat);
        return ToMatrix(flat, d.Length, g.Length);
    }

    /// <summary>Mask IoU (<c>rleIou</c>): box IoU first (no overlap → 0), size mismatch → -1, then exact run-length intersection.</summary>
    public static void RleIou(IReadOnlyList<Rle> dt, IReadOnlyList<Rle> gt, ReadOnlySpan<bool> iscrowd, Span<double> iou)
    {
        int m = dt.Count, n = gt.Count;
        CheckShapes(m, n, iscrowd.Length, iou.Length);
        Span<BoxXywh> db = m <= 256 ? stackalloc BoxXywh[m] : new BoxXywh[m];
        Span<BoxXywh> gb = n <= 256 ? stackalloc BoxXywh[n] : new BoxXywh[n];
        for (int d = 0; d < m; d++) db[d] = dt[d].ToBbox();
        for (int g = 0; g < n; g++) gb[g] = gt[g].ToBbox();
        for (int g = 0; g < n; g++)
        {
            bool crowd = iscrowd.Length > 0 && iscrowd[g];
            double ga = gb[g].W * gb[g].H;
            for (int d = 0; d < m; d++)
            {
                double o = BoxPair(db[d], gb[g], ga, crowd);
                if (o > 0) o = RlePair(dt[d], gt[g], crowd);
                iou[d * n + g] = o;
            }
        }
    }

    /// <summary>Mask IoU returning a new D×G matrix.</summary>
    public static double[,] RleIou(IReadOnlyList<Rle> dt, IReadOnlyList<Rle> gt, IReadOnlyList<bool>? iscrowd = null)
    {
        var flat = new double[dt.Count * gt.Count];
        RleIou(dt, gt, iscrowd?.ToArray() ?? [], flat);
        return ToMatrix(flat, dt.Count, gt.Count);
    }

    /// <summary>IoU of two masks from their runs (the inner loop of <c>rleIou</c>, without the box pre-check).</summary>
    public static double RlePair(Rle dt, Rle gt, bool crowd)
    {
        if (dt.Height != gt.Height || dt.Width != gt.Width) return -1;
        var a = dt.Counts;
        var b = gt.Counts;
        int ka = a.Length, kb = b.Length;
        uint ca = ka > 0 ? a[0] : 0, cb = kb > 0 ? b[0] : 0, i = 0, u = 0, ct = 1;
        bool va = false, vb = false;
        int ia = 1, ib = 1;
        while (ct > 0)
        {
            uint c = Math.Min(ca, cb);
            if (va || vb) { u += c; if (va && vb) i += c; }
            ct = 0;
            ca -= c; if (ca == 0 && ia < ka) { ca = a[ia++]; va = !va; }
            ct += ca;
            cb -= c; if (cb == 0 && ib < kb) { cb = b[ib++]; vb = !vb; }
            ct += cb;
        }
        if (i == 0) u = 1;
        else if (crowd) u = dt.Area();
        return (double)i / u;
    }

    private static void CheckShapes(int m, int n, int crowdLength, int outputLength)
    {
        if (crowdLength != 0 && crowdLength != n)
            throw new ArgumentException($"iscrowd has {crowdLength} flags for {n} ground truths.");
        if (outputLength < (long)m * n)
            throw new ArgumentException($"output has {outputLength} entries, {m}x{n} needed.");
    }

    private static double[,] ToMatrix(double[] flat, int m, int n)
    {
        var result = new double[m, n];
        for (int d = 0; d < m; d++)
            for (int g = 0; g < n; g++)
                result[d, g] = flat[d * n + g];
        return result;
    }
}

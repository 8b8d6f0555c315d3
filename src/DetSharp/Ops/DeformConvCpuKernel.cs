using System.Numerics;

namespace DetSharp.Ops;

/// <summary>
/// Where the columns of one image put output pixel q's samples of tap ki. <see cref="Gemm"/>: [Ho·Wo, groups, K,
/// C/groups], the left operand of one GEMM per conv group against the weights permuted to the same tap-major order
/// (the autograd path: its gradient comes back in this layout). <see cref="Patches"/>: the patch image
/// [Ho·kh, Wo·kw, C], each output pixel's kh×kw samples laid out where a kh×kw convolution of stride (kh, kw)
/// reads them, so that the weights apply as stored through libtorch's convolution (the inference path).
/// </summary>
internal readonly record struct ColumnLayout(int C, int Groups, int Kh, int Kw, int Wo, bool IsPatchImage)
{
    public static ColumnLayout Gemm(int c, int groups, int kh, int kw, int wo) => new(c, groups, kh, kw, wo, false);

    public static ColumnLayout Patches(int c, int groups, int kh, int kw, int wo) => new(c, groups, kh, kw, wo, true);

    /// <summary>The element offset of channel <paramref name="start"/> (in conv group <paramref name="group"/>) of pixel
    /// <paramref name="q"/>, tap <paramref name="ki"/>; the following channels of its group follow it.</summary>
    public long Offset(int q, int ki, int group, int start)
    {
        if (IsPatchImage)
        {
            long row = (long)(q / Wo) * Kh + ki / Kw, col = (long)(q % Wo) * Kw + ki % Kw;
            return (row * Wo * Kw + col) * C + start;
        }

        int cg = C / Groups;
        return (((long)q * Groups + group) * Kh * Kw + ki) * cg + (start - group * cg);
    }
}

/// <summary>
/// The CPU kernel of <see cref="DeformConv"/>: mmcv's <c>deformable_im2col</c> (every tap's bilinear sample of every
/// input channel into the columns of one image) and its backward (<c>deformable_col2im</c> for the input,
/// <c>deformable_col2im_coord</c> for the offsets and the mask), channels last: the input is read as [H·W, C] and each
/// (output pixel, tap) owns a contiguous run of C channels in the columns (<see cref="ColumnLayout"/>), so that each
/// bilinear tap is a SIMD multiply-add over contiguous channels.
/// Each sample point's four corners and weights are computed once and shared by all channels of its deformable group.
/// The columns and the offset and mask gradients run in parallel over blocks of output pixels, the input gradient over
/// blocks of channels (each thread owns its channels of every pixel: no atomics).
/// </summary>
internal static unsafe class DeformConvCpuKernel<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>A sample point: its four corner pixels (indices into H·W), their bilinear weights (0 for a corner
    /// outside the map) and the fractional parts, whose derivatives give the coordinate gradient.</summary>
    internal struct Tap
    {
        public int I1, I2, I3, I4;
        public T W1, W2, W3, W4;
        public T V1, V2, V3, V4;
        public T Ly, Lx;
    }

    /// <summary>
    /// A run of channels [Start, End) inside one conv group and one deformable group: the unit the kernels vectorise
    /// over (a run's channels share their taps and are contiguous both in the input and in the columns).
    /// </summary>
    internal readonly record struct ChannelRun(int Start, int End, int Group, int DeformGroup);

    /// <summary>The channel runs of <paramref name="c"/> channels in <paramref name="groups"/> conv groups and
    /// <paramref name="dg"/> deformable groups, each at most <paramref name="maxLength"/> long.</summary>
    public static ChannelRun[] Runs(int c, int groups, int dg, int maxLength = int.MaxValue)
    {
        int cg = c / groups, cd = c / dg;
        var runs = new List<ChannelRun>();
        for (int start = 0; start < c;)
        {
            int end = Math.Min(Math.Min((start / cg + 1) * cg, (start / cd + 1) * cd), start + Math.Min(maxLength, c - start));
            runs.Add(new ChannelRun(start, end, start / cg, start / cd));
            start = end;
        }
        return [.. runs];
    }

    /// <summary>The taps of image <paramref name="offset"/> [DG, K, 2, Ho, Wo], as [DG, K·Ho·Wo]. With
    /// <paramref name="foldMask"/> [DG, K·Ho·Wo] (DCNv2's forward) each tap's corner weights are multiplied by its mask
    /// here, once per sample point, instead of once per channel in <see cref="Columns"/>; the backward needs the plain
    /// weights and passes null. In parallel over (group, kernel tap) rows.</summary>
    public static Tap[] ComputeTaps(T* offset, int dg, int kh, int kw, int ho, int wo, int h, int w, in DeformConvGeometry g, T* foldMask = null)
    {
        int k = kh * kw, p = ho * wo;
        var taps = new Tap[dg * k * p];
        var geometry = g;
        nint poff = (nint)offset, pmask = (nint)foldMask;
        Parallel.For(0, dg * k, row =>
        {
            int ki = row % k, i = ki / kw, j = ki % kw;
            T* offY = (T*)poff + (long)row * 2 * p;
            T* offX = offY + p;
            T* m = pmask == 0 ? null : (T*)pmask + (long)row * p;
            var span = taps.AsSpan(row * p, p);
            for (int y = 0; y < ho; y++)
            {
                for (int x = 0; x < wo; x++)
                {
                    int q = y * wo + x;
                    T py = T.CreateTruncating(y * geometry.Stride.H - geometry.Padding.H + i * geometry.Dilation.H) + offY[q];
                    T px = T.CreateTruncating(x * geometry.Stride.W - geometry.Padding.W + j * geometry.Dilation.W) + offX[q];
                    var tap = MakeTap(py, px, h, w);
                    if (m != null)
                    {
                        tap.W1 *= m[q];
                        tap.W2 *= m[q];
                        tap.W3 *= m[q];
                        tap.W4 *= m[q];
                    }

                    span[q] = tap;
                }
            }
        });

        return taps;
    }

    /// <summary>mmcv's rule: a point outside (−1, H) × (−1, W) reads 0; inside, corners outside the map read 0.</summary>
    private static Tap MakeTap(T y, T x, int h, int w)
    {
        var tap = default(Tap);
        if (!(y > -T.One && x > -T.One && y < T.CreateTruncating(h) && x < T.CreateTruncating(w))) return tap;
        T fy = T.Floor(y), fx = T.Floor(x);
        int y0 = int.CreateTruncating(fy), x0 = int.CreateTruncating(fx), y1 = y0 + 1, x1 = x0 + 1;
        T ly = y - fy, lx = x - fx, hy = T.One - ly, hx = T.One - lx;
        bool top = y0 >= 0, bottom = y1 <= h - 1, left = x0 >= 0, right = x1 <= w - 1;
        tap.Ly = ly;
        tap.Lx = lx;
        if (top && left) { tap.I1 = y0 * w + x0; tap.V1 = T.One; tap.W1 = hy * hx; }
        if (top && right) { tap.I2 = y0 * w + x1; tap.V2 = T.One; tap.W2 = hy * lx; }
        if (bottom && left) { tap.I3 = y1 * w + x0; tap.V3 = T.One; tap.W3 = ly * hx; }
        if (bottom && right) { tap.I4 = y1 * w + x1; tap.V4 = T.One; tap.W4 = ly * lx; }
        return tap;
    }

    /// <summary>Output pixels per parallel job of the columns and the coordinate gradient.</summary>
    private const int PixelBlock = 64;

    /// <summary>Channels per parallel job of the input gradient: each job reads every tap once per this many channels.</summary>
    private const int ChannelBlock = 32;

    private static int Lanes => Vector<T>.Count;

    /// <summary>
    /// The columns of one image <paramref name="input"/> [H·W, C] (channels last), in <paramref name="layout"/>, from taps
    /// whose weights carry DCNv2's mask already (<see cref="ComputeTaps"/>'s foldMask). The column of (pixel p, group g,
    /// tap k, channel c) is the sum of the four corners' weight times their pixel's channel c — mmcv's
    /// <c>deformable_im2col</c> value.
    /// </summary>
    public static void Columns(T* input, int c, int groups, Tap[] taps, int dg, int k, int p, in ColumnLayout layout, T* columns)
    {
        var runs = Runs(c, groups, dg);
        int blocks = (p + PixelBlock - 1) / PixelBlock;
        long kp = (long)k * p;
        nint pin = (nint)input, pcol = (nint)columns;
        var at = layout;
        Parallel.For(0, blocks, block =>
        {
            T* x = (T*)pin;
            fixed (Tap* t0 = taps)
            {
                for (int q = block * PixelBlock, end = Math.Min(q + PixelBlock, p); q < end; q++)
                {
                    foreach (var run in runs)
                    {
                        Tap* tq = t0 + run.DeformGroup * kp + q;
                        for (int ki = 0; ki < k; ki++)
                            Sample(x + run.Start, c, run.End - run.Start, in tq[ki * p], (T*)pcol + at.Offset(q, ki, run.Group, run.Start));
                    }
                }
            }
        });
    }

    /// <summary><paramref name="dst"/>[i] = Σ corner weight · x[corner, i] for the <paramref name="n"/> channels at
    /// <paramref name="x"/> (row stride <paramref name="c"/>).</summary>
    private static void Sample(T* x, int c, int n, in Tap t, T* dst)
    {
        T* a = x + (long)t.I1 * c, b = x + (long)t.I2 * c, e = x + (long)t.I3 * c, f = x + (long)t.I4 * c;
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            Vector<T> w1 = new(t.W1), w2 = new(t.W2), w3 = new(t.W3), w4 = new(t.W4);
            for (; i <= n - Lanes; i += Lanes)
                Vector.Store(w1 * Vector.Load(a + i) + w2 * Vector.Load(b + i) + w3 * Vector.Load(e + i) + w4 * Vector.Load(f + i), dst + i);
        }
        for (; i < n; i++) dst[i] = t.W1 * a[i] + t.W2 * b[i] + t.W3 * e[i] + t.W4 * f[i];
    }

    /// <summary>
    /// Adds the columns' gradient (<see cref="ColumnLayout.Gemm"/>) into the input gradient [H·W, C] (channels last, zeroed by the
    /// caller) of one image: each column's gradient, times the mask, goes to its four corners by their weights. In
    /// parallel over runs of at most <see cref="ChannelBlock"/> channels, each job through every pixel and tap.
    /// </summary>
    public static void InputGradient(T* gradColumns, int c, int groups, Tap[] taps, T* mask, int dg, int k, int p, in ColumnLayout layout, T* gradInput)
    {
        var runs = Runs(c, groups, dg, ChannelBlock);
        var at = layout;
        long kp = (long)k * p;
        nint pgc = (nint)gradColumns, pmask = (nint)mask, pgi = (nint)gradInput;
        Parallel.For(0, runs.Length, job =>
        {
            var run = runs[job];
            int n = run.End - run.Start;
            T* gx = (T*)pgi + run.Start;
            T* m = pmask == 0 ? null : (T*)pmask + run.DeformGroup * kp;
            fixed (Tap* t0 = &taps[run.DeformGroup * kp])
            {
                for (int ki = 0; ki < k; ki++)
                {
                    for (int q = 0; q < p; q++)
                    {
                        ref readonly Tap t = ref t0[ki * p + q];
                        T scale = m == null ? T.One : m[ki * p + q];
                        if (scale == T.Zero || (t.W1 == T.Zero && t.W2 == T.Zero && t.W3 == T.Zero && t.W4 == T.Zero)) continue;
                        T* g = (T*)pgc + at.Offset(q, ki, run.Group, run.Start);
                        Scatter(g, n, c, t.W1 * scale, gx + (long)t.I1 * c);
                        Scatter(g, n, c, t.W2 * scale, gx + (long)t.I2 * c);
                        Scatter(g, n, c, t.W3 * scale, gx + (long)t.I3 * c);
                        Scatter(g, n, c, t.W4 * scale, gx + (long)t.I4 * c);
                    }
                }
            }
        });
    }

    /// <summary><paramref name="dst"/>[i] += <paramref name="weight"/> · <paramref name="g"/>[i] for <paramref name="n"/> channels.</summary>
    private static void Scatter(T* g, int n, int c, T weight, T* dst)
    {
        if (weight == T.Zero) return;
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            Vector<T> w = new(weight);
            for (; i <= n - Lanes; i += Lanes) Vector.Store(Vector.Load(dst + i) + w * Vector.Load(g + i), dst + i);
        }
        for (; i < n; i++) dst[i] += weight * g[i];
    }

    /// <summary>
    /// From the columns' gradient (<see cref="ColumnLayout.Gemm"/>), the offset gradient [DG, K, 2, P] and, when <paramref name="gradMask"/> is not null, the mask gradient [DG, K·P]
    /// of one image: Σ over the deformable group's channels of the column gradient times the sample's derivative in y
    /// and x (times the mask) and times the sample itself. In parallel over blocks of output pixels.
    /// </summary>
    public static void OffsetAndMaskGradient(T* gradColumns, T* input, int c, int groups, Tap[] taps, T* mask, int dg, int k, int p,
        in ColumnLayout layout, T* gradOffset, T* gradMask)
    {
        var runs = Runs(c, groups, dg);
        var at = layout;
        int blocks = (p + PixelBlock - 1) / PixelBlock;
        long kp = (long)k * p;
        nint pgc = (nint)gradColumns, pin = (nint)input, pmask = (nint)mask, pgo = (nint)gradOffset, pgm = (nint)gradMask;
        Parallel.For(0, blocks, block =>
        {
            Span<T> sums = stackalloc T[3];
            fixed (Tap* t0 = taps)
            {
                for (int q = block * PixelBlock, end = Math.Min(q + PixelBlock, p); q < end; q++)
                {
                    for (int d = 0; d < dg; d++)
                    {
                        for (int ki = 0; ki < k; ki++)
                        {
                            long tq = d * kp + ki * p + q;
                            ref readonly Tap t = ref t0[tq];
                            sums.Clear();
                            foreach (var run in runs)
                            {
                                if (run.DeformGroup != d) continue;
                                T* g = (T*)pgc + at.Offset(q, ki, run.Group, run.Start);
                                Accumulate(g, (T*)pin + run.Start, c, run.End - run.Start, in t, sums);
                            }

                            T m = pmask == 0 ? T.One : ((T*)pmask)[tq];
                            T* go = (T*)pgo + ((long)(d * k + ki) * 2) * p;
                            go[q] = sums[0] * m;
                            go[p + q] = sums[1] * m;
                            if (pgm != 0) ((T*)pgm)[tq] = sums[2];
                        }
                    }
                }
            }
        });
    }

    /// <summary>Adds to <paramref name="sums"/> (y, x, sample) the channels' Σ g · ∂sample/∂y, Σ g · ∂sample/∂x and
    /// Σ g · sample for one tap.</summary>
    private static void Accumulate(T* g, T* x, int c, int n, in Tap t, Span<T> sums)
    {
        T* a = x + (long)t.I1 * c, b = x + (long)t.I2 * c, e = x + (long)t.I3 * c, f = x + (long)t.I4 * c;
        T hy = T.One - t.Ly, hx = T.One - t.Lx;
        // ∂/∂y = hx (v3 − v1) + lx (v4 − v2), ∂/∂x = hy (v2 − v1) + ly (v4 − v3), with v the corners inside the map.
        T y1 = -hx * t.V1, y2 = -t.Lx * t.V2, y3 = hx * t.V3, y4 = t.Lx * t.V4;
        T x1 = -hy * t.V1, x2 = hy * t.V2, x3 = -t.Ly * t.V3, x4 = t.Ly * t.V4;
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            Vector<T> sy = Vector<T>.Zero, sx = Vector<T>.Zero, sm = Vector<T>.Zero;
            Vector<T> cy1 = new(y1), cy2 = new(y2), cy3 = new(y3), cy4 = new(y4), cx1 = new(x1), cx2 = new(x2), cx3 = new(x3), cx4 = new(x4);
            Vector<T> w1 = new(t.W1), w2 = new(t.W2), w3 = new(t.W3), w4 = new(t.W4);
            for (; i <= n - Lanes; i += Lanes)
            {
                Vector<T> gv = Vector.Load(g + i), va = Vector.Load(a + i), vb = Vector.Load(b + i), ve = Vector.Load(e + i), vf = Vector.Load(f + i);
                sy += gv * (cy1 * va + cy2 * vb + cy3 * ve + cy4 * vf);
                sx += gv * (cx1 * va + cx2 * vb + cx3 * ve + cx4 * vf);
                sm += gv * (w1 * va + w2 * vb + w3 * ve + w4 * vf);
            }
            sums[0] += Vector.Sum(sy);
            sums[1] += Vector.Sum(sx);
            sums[2] += Vector.Sum(sm);
        }
        for (; i < n; i++)
        {
            T gi = g[i];
            sums[0] += gi * (y1 * a[i] + y2 * b[i] + y3 * e[i] + y4 * f[i]);
            sums[1] += gi * (x1 * a[i] + x2 * b[i] + x3 * e[i] + x4 * f[i]);
            sums[2] += gi * (t.W1 * a[i] + t.W2 * b[i] + t.W3 * e[i] + t.W4 * f[i]);
        }
    }
}

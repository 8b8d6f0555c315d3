using System.Numerics;

namespace DetSharp.Ops;

/// <summary>
/// The CPU kernel of <see cref="DeformConv"/>: mmcv's <c>deformable_im2col</c> (every tap's bilinear sample of every
/// input channel into columns [C, K, Ho·Wo] of one image) and its backward (<c>deformable_col2im</c> for the input,
/// <c>deformable_col2im_coord</c> for the offsets and the mask). The weights meet the columns in libtorch's matmul.
/// Each sample point's four corners and weights are computed once and shared by all channels of its deformable group.
/// The columns and the offset and mask gradients run in parallel over blocks of sample points, the input gradient over
/// blocks of channels (each thread owns its planes: no atomics); a block of taps is read from cache by every channel.
/// </summary>
internal static unsafe class DeformConvCpuKernel<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>A sample point: its four corner offsets in the plane, their bilinear weights (0 for a corner outside the
    /// map) and the fractional parts, whose derivatives give the coordinate gradient.</summary>
    internal struct Tap
    {
        public int I1, I2, I3, I4;
        public T W1, W2, W3, W4;
        public T V1, V2, V3, V4;
        public T Ly, Lx;
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

    /// <summary>Sample points per block: a block's taps (56–88 bytes each) stay in L2 while every channel reads them.</summary>
    private const int TapBlock = 1024;

    /// <summary>Channels per block of the input gradient: the taps of a block are read once per this many channels.</summary>
    private const int ChannelBlock = 16;

    /// <summary>Columns [C, K·P] of one image <paramref name="input"/> [C, H·W] from taps whose weights carry DCNv2's
    /// mask already (<see cref="ComputeTaps"/>'s foldMask). In parallel over blocks of sample points, each running
    /// through all channels of its deformable group.</summary>
    public static void Columns(T* input, int c, int hw, Tap[] taps, int dg, int kp, T* columns)
    {
        int cg = c / dg, blocks = (kp + TapBlock - 1) / TapBlock;
        nint pin = (nint)input, pcol = (nint)columns;
        Parallel.For(0, dg * blocks, job =>
        {
            int g = job / blocks, start = job % blocks * TapBlock, end = Math.Min(start + TapBlock, kp);
            fixed (Tap* t0 = &taps[(long)g * kp])
            {
                for (int ch = g * cg; ch < (g + 1) * cg; ch++)
                {
                    T* plane = (T*)pin + (long)ch * hw;
                    T* col = (T*)pcol + (long)ch * kp;
                    for (int q = start; q < end; q++)
                    {
                        ref readonly Tap t = ref t0[q];
                        col[q] = t.W1 * plane[t.I1] + t.W2 * plane[t.I2] + t.W3 * plane[t.I3] + t.W4 * plane[t.I4];
                    }
                }
            }
        });
    }

    /// <summary>Adds the columns' gradient [C, K·P] into the input gradient [C, H·W] of one image. In parallel over
    /// blocks of channels (each thread owns its planes), sample points in blocks shared by the block's channels.</summary>
    public static void InputGradient(T* gradColumns, int c, int hw, Tap[] taps, T* mask, int dg, int kp, T* gradInput)
    {
        int cg = c / dg;
        int perGroup = (cg + ChannelBlock - 1) / ChannelBlock;
        nint pgc = (nint)gradColumns, pmask = (nint)mask, pgi = (nint)gradInput;
        Parallel.For(0, dg * perGroup, job =>
        {
            int g = job / perGroup, first = g * cg + job % perGroup * ChannelBlock, last = Math.Min(first + ChannelBlock, (g + 1) * cg);
            T* m = pmask == 0 ? null : (T*)pmask + (long)g * kp;
            fixed (Tap* t0 = &taps[(long)g * kp])
            {
                for (int start = 0; start < kp; start += TapBlock)
                {
                    int end = Math.Min(start + TapBlock, kp);
                    for (int ch = first; ch < last; ch++)
                    {
                        T* plane = (T*)pgi + (long)ch * hw;
                        T* gcol = (T*)pgc + (long)ch * kp;
                        for (int q = start; q < end; q++)
                        {
                            T gq = m == null ? gcol[q] : gcol[q] * m[q];
                            if (gq == T.Zero) continue;
                            ref readonly Tap t = ref t0[q];
                            plane[t.I1] += t.W1 * gq;
                            plane[t.I2] += t.W2 * gq;
                            plane[t.I3] += t.W3 * gq;
                            plane[t.I4] += t.W4 * gq;
                        }
                    }
                }
            }
        });
    }

    /// <summary>
    /// The offset gradient [DG, K, 2, P] and, when <paramref name="gradMask"/> is not null, the mask gradient [DG, K·P]
    /// of one image: Σ over the group's channels of the column gradient times the sample's derivative in y and x (times
    /// the mask) and times the sample itself.
    /// </summary>
    public static void OffsetAndMaskGradient(T* gradColumns, T* input, int c, int hw, Tap[] taps, T* mask, int dg, int k, int p,
        T* gradOffset, T* gradMask)
    {
        int cg = c / dg, kp = k * p;
        nint pgc = (nint)gradColumns, pin = (nint)input, pmask = (nint)mask, pgo = (nint)gradOffset, pgm = (nint)gradMask;
        const int Block = 256;
        int blocks = (kp + Block - 1) / Block;
        Parallel.For(0, dg * blocks, job =>
        {
            int g = job / blocks, start = job % blocks * Block, end = Math.Min(start + Block, kp);
            Span<T> gy = stackalloc T[Block], gx = stackalloc T[Block], gm = stackalloc T[Block];
            gy.Clear();
            gx.Clear();
            gm.Clear();
            fixed (Tap* t0 = &taps[(long)g * kp])
            {
                for (int ch = g * cg; ch < (g + 1) * cg; ch++)
                {
                    T* plane = (T*)pin + (long)ch * hw;
                    T* gcol = (T*)pgc + (long)ch * kp;
                    for (int q = start; q < end; q++)
                    {
                        T gq = gcol[q];
                        ref readonly Tap t = ref t0[q];
                        T v1 = t.V1 * plane[t.I1], v2 = t.V2 * plane[t.I2], v3 = t.V3 * plane[t.I3], v4 = t.V4 * plane[t.I4];
                        T hy = T.One - t.Ly, hx = T.One - t.Lx;
                        gy[q - start] += gq * (hx * (v3 - v1) + t.Lx * (v4 - v2));
                        gx[q - start] += gq * (hy * (v2 - v1) + t.Ly * (v4 - v3));
                        gm[q - start] += gq * (t.W1 * plane[t.I1] + t.W2 * plane[t.I2] + t.W3 * plane[t.I3] + t.W4 * plane[t.I4]);
                    }
                }
            }

            for (int q = start; q < end; q++)
            {
                int ki = q / p, pos = q % p;
                T m = pmask == 0 ? T.One : ((T*)pmask)[(long)g * kp + q];
                T* go = (T*)pgo + ((long)(g * k + ki) * 2) * p;
                go[pos] = gy[q - start] * m;
                go[p + pos] = gx[q - start] * m;
                if (pgm != 0) ((T*)pgm)[(long)g * kp + q] = gm[q - start];
            }
        });
    }
}

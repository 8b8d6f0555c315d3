using System.Runtime.InteropServices;

namespace DetSharp.Ops;

/// <summary>
/// The CPU RoIAlign kernel over contiguous float32 buffers, with mmcv's semantics (see <see cref="RoIAlign"/>).
/// Forward runs in parallel over RoIs; backward in parallel over channel blocks, so every thread owns the
/// gradient planes it writes (no atomics, no locks). The bilinear taps (4 offsets + 4 weights) of every sample
/// point of a RoI are computed once per RoI into a reusable per-thread buffer and shared by all channels.
/// </summary>
internal static unsafe class RoIAlignCpuKernel
{
    /// <summary>One bilinear sample point: the four plane offsets and their weights.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct Tap
    {
        public int P1, P2, P3, P4;
        public float W1, W2, W3, W4;
    }

    /// <summary>Geometry of one RoI after scaling, shifting and (when not aligned) clamping.</summary>
    internal readonly struct RoIGeometry
    {
        public readonly int Batch;
        public readonly float StartH, StartW, BinH, BinW;
        public readonly int GridH, GridW;

        public RoIGeometry(float* roi, in RoIAlignOptions o)
        {
            Batch = (int)roi[0];
            float offset = o.Aligned ? 0.5f : 0f;
            float startW = roi[1] * o.SpatialScale - offset;
            float startH = roi[2] * o.SpatialScale - offset;
            float endW = roi[3] * o.SpatialScale - offset;
            float endH = roi[4] * o.SpatialScale - offset;
            float roiW = endW - startW;
            float roiH = endH - startH;
            if (!o.Aligned)
            {
                // Backward compatibility in mmcv: the RoI is at least one feature cell.
                roiW = MathF.Max(roiW, 1f);
                roiH = MathF.Max(roiH, 1f);
            }
            else if (roiW < 0 || roiH < 0)
            {
                throw new ArgumentException($"RoIAlign: RoI ({roi[1]}, {roi[2]}, {roi[3]}, {roi[4]}) has a negative size.");
            }

            StartH = startH;
            StartW = startW;
            BinH = roiH / o.OutputHeight;
            BinW = roiW / o.OutputWidth;
            GridH = o.SamplingRatio > 0 ? o.SamplingRatio : (int)MathF.Ceiling(roiH / o.OutputHeight);
            GridW = o.SamplingRatio > 0 ? o.SamplingRatio : (int)MathF.Ceiling(roiW / o.OutputWidth);
        }

        public int SamplesPerBin => GridH * GridW;

        /// <summary>mmcv divides the bin sum by max(gridH * gridW, 1).</summary>
        public float Count => Math.Max(GridH * GridW, 1);
    }

    /// <summary>A growable per-thread tap buffer.</summary>
    internal sealed class TapBuffer
    {
        public Tap[] Taps = new Tap[1024];

        public Tap[] Ensure(int n)
        {
            if (Taps.Length < n)
            {
                Taps = new Tap[Math.Max(n, Taps.Length * 2)];
            }

            return Taps;
        }
    }

    /// <summary>
    /// Fills the taps of every sample point of a RoI, bin-major (ph, pw), then sample-major (iy, ix).
    /// Boundary rules as mmcv: a sample with y &lt; -1, y &gt; H, x &lt; -1 or x &gt; W contributes 0; below 0 it is
    /// clamped to 0; at or beyond the last row/column it uses the edge.
    /// </summary>
    internal static void ComputeTaps(in RoIGeometry g, in RoIAlignOptions o, int height, int width, Span<Tap> taps)
    {
        int k = 0;
        for (int ph = 0; ph < o.OutputHeight; ph++)
        {
            for (int pw = 0; pw < o.OutputWidth; pw++)
            {
                for (int iy = 0; iy < g.GridH; iy++)
                {
                    float y = SampleY(g, ph, iy);
                    for (int ix = 0; ix < g.GridW; ix++)
                    {
                        float x = SampleX(g, pw, ix);
                        taps[k++] = MakeTap(y, x, height, width);
                    }
                }
            }
        }
    }

    internal static float SampleY(in RoIGeometry g, int ph, int iy) =>
        g.StartH + ph * g.BinH + (iy + 0.5f) * g.BinH / g.GridH;

    internal static float SampleX(in RoIGeometry g, int pw, int ix) =>
        g.StartW + pw * g.BinW + (ix + 0.5f) * g.BinW / g.GridW;

    internal static Tap MakeTap(float y, float x, int height, int width)
    {
        if (y < -1f || y > height || x < -1f || x > width)
        {
            return default;
        }

        if (y <= 0)
        {
            y = 0;
        }

        if (x <= 0)
        {
            x = 0;
        }

        int yLow = (int)y;
        int xLow = (int)x;
        int yHigh, xHigh;
        if (yLow >= height - 1)
        {
            yHigh = yLow = height - 1;
            y = yLow;
        }
        else
        {
            yHigh = yLow + 1;
        }

        if (xLow >= width - 1)
        {
            xHigh = xLow = width - 1;
            x = xLow;
        }
        else
        {
            xHigh = xLow + 1;
        }

        float ly = y - yLow, lx = x - xLow;
        float hy = 1f - ly, hx = 1f - lx;
        return new Tap
        {
            P1 = yLow * width + xLow,
            P2 = yLow * width + xHigh,
            P3 = yHigh * width + xLow,
            P4 = yHigh * width + xHigh,
            W1 = hy * hx,
            W2 = hy * lx,
            W3 = ly * hx,
            W4 = ly * lx,
        };
    }

    /// <summary>Checks every RoI (batch index in range, non-negative size when aligned) before the parallel loops.</summary>
    internal static void Validate(float* rois, int numRois, int batch, in RoIAlignOptions o)
    {
        for (int n = 0; n < numRois; n++)
        {
            var g = new RoIGeometry(rois + n * 5L, o);
            if ((uint)g.Batch >= (uint)batch)
            {
                throw new ArgumentException($"RoIAlign: RoI {n} has batch index {g.Batch}, but the input has {batch} image(s).");
            }
        }
    }

    /// <summary>
    /// Forward. <paramref name="input"/> is [N, C, H, W], <paramref name="rois"/> [K, 5], <paramref name="output"/>
    /// [K, C, PH, PW]; for max pooling <paramref name="argmax"/> [K, C, PH, PW] receives the winning sample's index
    /// inside its bin (-1 when the bin has no sample).
    /// </summary>
    public static void Forward(
        float* input, int batch, int channels, int height, int width,
        float* rois, int numRois, float* output, int* argmax, RoIAlignOptions o)
    {
        nint inputPtr = (nint)input, roisPtr = (nint)rois, outputPtr = (nint)output, argmaxPtr = (nint)argmax;
        int bins = o.OutputHeight * o.OutputWidth;
        long plane = (long)height * width;
        Validate(rois, numRois, batch, o);
        Parallel.For(
            0,
            numRois,
            () => new TapBuffer(),
            (n, _, buffer) =>
            {
                var g = new RoIGeometry((float*)roisPtr + n * 5L, o);
                int spb = g.SamplesPerBin;
                var taps = buffer.Ensure(spb * bins);
                ComputeTaps(g, o, height, width, taps);
                float count = g.Count;
                fixed (Tap* tapBase = taps)
                {
                    for (int c = 0; c < channels; c++)
                    {
                        float* src = (float*)inputPtr + ((long)g.Batch * channels + c) * plane;
                        long outOffset = ((long)n * channels + c) * bins;
                        float* dst = (float*)outputPtr + outOffset;
                        Tap* t = tapBase;
                        if (o.Mode == RoIAlignPoolMode.Avg)
                        {
                            for (int b = 0; b < bins; b++)
                            {
                                float sum = 0f;
                                for (int s = 0; s < spb; s++, t++)
                                {
                                    sum += t->W1 * src[t->P1] + t->W2 * src[t->P2] + t->W3 * src[t->P3] + t->W4 * src[t->P4];
                                }

                                dst[b] = sum / count;
                            }
                        }
                        else
                        {
                            int* am = (int*)argmaxPtr + outOffset;
                            for (int b = 0; b < bins; b++)
                            {
                                float max = -10000f;
                                int best = -1;
                                for (int s = 0; s < spb; s++, t++)
                                {
                                    float v = t->W1 * src[t->P1] + t->W2 * src[t->P2] + t->W3 * src[t->P3] + t->W4 * src[t->P4];
                                    if (v > max)
                                    {
                                        max = v;
                                        best = s;
                                    }
                                }

                                dst[b] = max;
                                am[b] = best;
                            }
                        }
                    }
                }

                return buffer;
            },
            _ => { });
    }

    /// <summary>
    /// Backward: accumulates into <paramref name="gradInput"/> [N, C, H, W] (zeroed by the caller) from
    /// <paramref name="gradOutput"/> [K, C, PH, PW]. Channels are split into blocks; each block walks all RoIs.
    /// </summary>
    public static void Backward(
        float* gradOutput, float* rois, int numRois, int* argmax,
        float* gradInput, int batch, int channels, int height, int width, RoIAlignOptions o)
    {
        nint goPtr = (nint)gradOutput, roisPtr = (nint)rois, amPtr = (nint)argmax, giPtr = (nint)gradInput;
        int bins = o.OutputHeight * o.OutputWidth;
        long plane = (long)height * width;

        // Enough blocks to balance the cores, few enough that the per-block tap computation stays cheap.
        int blockSize = Math.Max(1, Math.Min(16, channels / Math.Max(1, Environment.ProcessorCount * 2)));
        int numBlocks = (channels + blockSize - 1) / blockSize;

        Validate(rois, numRois, batch, o);
        Parallel.For(
            0,
            numBlocks,
            () => new TapBuffer(),
            (block, _, buffer) =>
            {
                int c0 = block * blockSize;
                int c1 = Math.Min(channels, c0 + blockSize);
                for (int n = 0; n < numRois; n++)
                {
                    var g = new RoIGeometry((float*)roisPtr + n * 5L, o);
                    int spb = g.SamplesPerBin;
                    if (spb == 0)
                    {
                        continue;
                    }

                    var taps = buffer.Ensure(spb * bins);
                    ComputeTaps(g, o, height, width, taps);
                    float count = spb;
                    fixed (Tap* tapBase = taps)
                    {
                        for (int c = c0; c < c1; c++)
                        {
                            float* dst = (float*)giPtr + ((long)g.Batch * channels + c) * plane;
                            long goOffset = ((long)n * channels + c) * bins;
                            float* go = (float*)goPtr + goOffset;
                            if (o.Mode == RoIAlignPoolMode.Avg)
                            {
                                Tap* t = tapBase;
                                for (int b = 0; b < bins; b++)
                                {
                                    float grad = go[b];
                                    if (grad == 0f)
                                    {
                                        t += spb;
                                        continue;
                                    }

                                    for (int s = 0; s < spb; s++, t++)
                                    {
                                        dst[t->P1] += grad * t->W1 / count;
                                        dst[t->P2] += grad * t->W2 / count;
                                        dst[t->P3] += grad * t->W3 / count;
                                        dst[t->P4] += grad * t->W4 / count;
                                    }
                                }
                            }
                            else
                            {
                                int* am = (int*)amPtr + goOffset;
                                for (int b = 0; b < bins; b++)
                                {
                                    int s = am[b];
                                    if (s < 0)
                                    {
                                        continue;
                                    }

                                    float grad = go[b];
                                    Tap* t = tapBase + (long)b * spb + s;
                                    dst[t->P1] += grad * t->W1;
                                    dst[t->P2] += grad * t->W2;
                                    dst[t->P3] += grad * t->W3;
                                    dst[t->P4] += grad * t->W4;
                                }
                            }
                        }
                    }
                }

                return buffer;
            },
            _ => { });
    }
}

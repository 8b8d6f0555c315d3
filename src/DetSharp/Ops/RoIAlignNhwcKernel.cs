using System.Numerics;

namespace DetSharp.Ops;

/// <summary>
/// The 'avg' RoIAlign kernel over a channels-last copy of the feature map ([N, H, W, C]): each bilinear tap reads
/// C contiguous floats, so the per-sample work is a SIMD multiply-add across channels over sequential memory
/// instead of C scattered gathers. Same taps and the same float operation order per channel as
/// <see cref="RoIAlignCpuKernel"/>, so the results are identical.
/// </summary>
internal static unsafe class RoIAlignNhwcKernel
{
    /// <summary>Forward: <paramref name="input"/> [N, H, W, C] to <paramref name="output"/> [K, C, PH, PW]; parallel over RoIs.</summary>
    public static void Forward(float* input, int batch, int channels, int height, int width, float* rois, int numRois, float* output, RoIAlignOptions o)
    {
        nint inputPtr = (nint)input, roisPtr = (nint)rois, outputPtr = (nint)output;
        int bins = o.OutputHeight * o.OutputWidth;
        long pixelsPerImage = (long)height * width;
        RoIAlignCpuKernel.Validate(rois, numRois, batch, o);
        Parallel.For(
            0,
            numRois,
            () => (Taps: new RoIAlignCpuKernel.TapBuffer(), Acc: new float[channels]),
            (n, _, local) =>
            {
                var g = new RoIAlignCpuKernel.RoIGeometry((float*)roisPtr + n * 5L, o);
                int spb = g.SamplesPerBin;
                var taps = local.Taps.Ensure(spb * bins);
                RoIAlignCpuKernel.ComputeTaps(g, o, height, width, taps);
                float count = g.Count;
                float* image = (float*)inputPtr + g.Batch * pixelsPerImage * channels;
                float* dst = (float*)outputPtr + (long)n * channels * bins;
                fixed (float* acc = local.Acc)
                fixed (RoIAlignCpuKernel.Tap* tapBase = taps)
                {
                    var t = tapBase;
                    for (int b = 0; b < bins; b++)
                    {
                        new Span<float>(acc, channels).Clear();
                        for (int s = 0; s < spb; s++, t++)
                        {
                            if (t->W1 == 0f && t->W2 == 0f && t->W3 == 0f && t->W4 == 0f)
                            {
                                continue; // outside the map: contributes exactly 0
                            }

                            Accumulate(acc, channels, image, t);
                        }

                        for (int c = 0; c < channels; c++)
                        {
                            dst[(long)c * bins + b] = acc[c] / count;
                        }
                    }
                }

                return local;
            },
            _ => { });
    }

    private static void Accumulate(float* acc, int channels, float* image, RoIAlignCpuKernel.Tap* t)
    {
        float* r1 = image + (long)t->P1 * channels;
        float* r2 = image + (long)t->P2 * channels;
        float* r3 = image + (long)t->P3 * channels;
        float* r4 = image + (long)t->P4 * channels;
        float w1 = t->W1, w2 = t->W2, w3 = t->W3, w4 = t->W4;
        int c = 0;
        int width = Vector<float>.Count;
        if (Vector.IsHardwareAccelerated)
        {
            var v1 = new Vector<float>(w1);
            var v2 = new Vector<float>(w2);
            var v3 = new Vector<float>(w3);
            var v4 = new Vector<float>(w4);
            for (; c + width <= channels; c += width)
            {
                var val = v1 * Load(r1 + c) + v2 * Load(r2 + c) + v3 * Load(r3 + c) + v4 * Load(r4 + c);
                Store(acc + c, Load(acc + c) + val);
            }
        }

        for (; c < channels; c++)
        {
            acc[c] += w1 * r1[c] + w2 * r2[c] + w3 * r3[c] + w4 * r4[c];
        }
    }

    /// <summary>
    /// Backward: accumulates into <paramref name="gradInput"/> [N, H, W, C] (zeroed) from <paramref name="gradOutput"/>
    /// [K, PH, PW, C]. Parallel over channel blocks: each thread owns a channel slice of every pixel.
    /// </summary>
    public static void Backward(float* gradOutput, float* rois, int numRois, float* gradInput, int batch, int channels, int height, int width, RoIAlignOptions o)
    {
        nint goPtr = (nint)gradOutput, roisPtr = (nint)rois, giPtr = (nint)gradInput;
        int bins = o.OutputHeight * o.OutputWidth;
        long pixelsPerImage = (long)height * width;
        RoIAlignCpuKernel.Validate(rois, numRois, batch, o);
        int vec = Vector<float>.Count;
        int targetBlocks = Math.Max(1, Environment.ProcessorCount * 2);
        int blockSize = Math.Max(vec, (channels + targetBlocks - 1) / targetBlocks);
        blockSize = (blockSize + vec - 1) / vec * vec;
        int numBlocks = (channels + blockSize - 1) / blockSize;
        Parallel.For(
            0,
            numBlocks,
            () => (Taps: new RoIAlignCpuKernel.TapBuffer(), Grad: new float[blockSize]),
            (block, _, local) =>
            {
                int c0 = block * blockSize;
                int len = Math.Min(channels, c0 + blockSize) - c0;
                for (int n = 0; n < numRois; n++)
                {
                    var g = new RoIAlignCpuKernel.RoIGeometry((float*)roisPtr + n * 5L, o);
                    int spb = g.SamplesPerBin;
                    if (spb == 0)
                    {
                        continue;
                    }

                    var taps = local.Taps.Ensure(spb * bins);
                    RoIAlignCpuKernel.ComputeTaps(g, o, height, width, taps);
                    float count = spb;
                    float* image = (float*)giPtr + g.Batch * pixelsPerImage * channels + c0;
                    fixed (RoIAlignCpuKernel.Tap* tapBase = taps)
                    {
                        var t = tapBase;
                        for (int b = 0; b < bins; b++)
                        {
                            float* grad = (float*)goPtr + ((long)n * bins + b) * channels + c0;
                            for (int s = 0; s < spb; s++, t++)
                            {
                                if (t->W1 == 0f && t->W2 == 0f && t->W3 == 0f && t->W4 == 0f)
                                {
                                    continue;
                                }

                                Scatter(image, channels, len, grad, t, count);
                            }
                        }
                    }
                }

                return local;
            },
            _ => { });
    }

    private static void Scatter(float* image, int channels, int len, float* grad, RoIAlignCpuKernel.Tap* t, float count)
    {
        float* r1 = image + (long)t->P1 * channels;
        float* r2 = image + (long)t->P2 * channels;
        float* r3 = image + (long)t->P3 * channels;
        float* r4 = image + (long)t->P4 * channels;
        float w1 = t->W1, w2 = t->W2, w3 = t->W3, w4 = t->W4;
        int c = 0;
        int width = Vector<float>.Count;
        if (Vector.IsHardwareAccelerated)
        {
            var v1 = new Vector<float>(w1);
            var v2 = new Vector<float>(w2);
            var v3 = new Vector<float>(w3);
            var v4 = new Vector<float>(w4);
            var vc = new Vector<float>(count);
            for (; c + width <= len; c += width)
            {
                var gv = Load(grad + c);
                Store(r1 + c, Load(r1 + c) + gv * v1 / vc);
                Store(r2 + c, Load(r2 + c) + gv * v2 / vc);
                Store(r3 + c, Load(r3 + c) + gv * v3 / vc);
                Store(r4 + c, Load(r4 + c) + gv * v4 / vc);
            }
        }

        for (; c < len; c++)
        {
            float gv = grad[c];
            r1[c] += gv * w1 / count;
            r2[c] += gv * w2 / count;
            r3[c] += gv * w3 / count;
            r4[c] += gv * w4 / count;
        }
    }

    private static Vector<float> Load(float* p) => System.Runtime.CompilerServices.Unsafe.ReadUnaligned<Vector<float>>(p);

    private static void Store(float* p, Vector<float> v) => System.Runtime.CompilerServices.Unsafe.WriteUnaligned(p, v);
}

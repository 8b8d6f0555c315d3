using DetSharp.Models;
using OpenCvSharp;
using static TorchSharp.torch;

namespace DetSharp.Tests.TestSupport;

/// <summary>
/// Test-only reconstruction of MMDetection's test/train image pipeline for the parity fixtures (the real data pipeline
/// lives elsewhere): cv2.imread (BGR), Resize keep_ratio to (1333, 800) with mmcv's rounding and cv2 bilinear,
/// Normalize (to RGB, ImageNet mean/std, in float32 as cv2 does), Pad to a multiple of 32 with zeros.
/// </summary>
internal static class MmdetInput
{
    public static readonly float[] Mean = [123.675f, 116.28f, 103.53f];
    public static readonly float[] Std = [58.395f, 57.12f, 57.375f];

    /// <summary>mmcv's <c>rescale_size</c> for a keep-ratio scale (long, short): new (w, h) and the factor.</summary>
    public static (int W, int H) RescaleSize(int w, int h, int longEdge = 1333, int shortEdge = 800)
    {
        double f = Math.Min(longEdge / (double)Math.Max(h, w), shortEdge / (double)Math.Min(h, w));
        return ((int)(w * f + 0.5), (int)(h * f + 0.5));
    }

    /// <summary>Loads, resizes (keep-ratio to the scale (long, short)) and normalizes one image: CHW float32 (unpadded) and its meta.</summary>
    public static (float[] Chw, ImgMeta Meta) Load(string path, int sizeDivisor = 32, int longEdge = 1333, int shortEdge = 800)
    {
        using var img = Cv2.ImRead(path, ImreadModes.Color);
        if (img.Empty()) throw new FileNotFoundException(path);
        int h = img.Rows, w = img.Cols;
        var (nw, nh) = RescaleSize(w, h, longEdge, shortEdge);
        using var resized = new Mat();
        Cv2.Resize(img, resized, new OpenCvSharp.Size(nw, nh), 0, 0, InterpolationFlags.Linear);
        int ph = (nh + sizeDivisor - 1) / sizeDivisor * sizeDivisor;
        int pw = (nw + sizeDivisor - 1) / sizeDivisor * sizeDivisor;
        var chw = new float[3 * nh * nw];
        var stdinv = Std.Select(s => (float)(1.0 / s)).ToArray();
        resized.GetArray(out Vec3b[] pixels);
        for (int y = 0; y < nh; y++)
        {
            for (int x = 0; x < nw; x++)
            {
                var p = pixels[y * nw + x];
                // BGR -> RGB
                byte[] rgb = [p.Item2, p.Item1, p.Item0];
                for (int c = 0; c < 3; c++)
                    chw[(c * nh + y) * nw + x] = (rgb[c] - Mean[c]) * stdinv[c];
            }
        }
        float ws = nw / (float)w, hs = nh / (float)h;
        var meta = new ImgMeta((nh, nw), (h, w), (ph, pw), [ws, hs, ws, hs], Filename: path);
        return (chw, meta);
    }

    /// <summary>Stacks images into a zero-padded batch [B, 3, H, W] (H, W = the largest pad shape).</summary>
    public static Tensor Batch(IReadOnlyList<(float[] Chw, ImgMeta Meta)> images)
    {
        int bh = images.Max(i => i.Meta.PadShape.Height), bw = images.Max(i => i.Meta.PadShape.Width);
        var batch = zeros(images.Count, 3, bh, bw);
        for (int b = 0; b < images.Count; b++)
        {
            var (chw, meta) = images[b];
            var (h, w) = meta.ImgShape;
            using var t = tensor(chw, [3, h, w]);
            batch[b, .., 0..h, 0..w] = t;
        }
        return batch;
    }
}

using DetSharp.Registry;
using DetSharp.Structures;
using OpenCvSharp;

namespace DetSharp.Datasets.Transforms;

/// <summary>mmcv's colour operations on BGR uint8 images.</summary>
internal static class ColorOps
{
    public static double EnhanceLevel(double level) => level / Geometric.MaxLevel * 1.8 + 0.1;

    public static Mat FromBytes(byte[] data, int rows, int cols, int channels)
    {
        using var wrapped = Mat.FromPixelData(rows, cols, MatType.CV_8UC(channels), data);
        return wrapped.Clone();
    }

    /// <summary><c>adjust_color</c>: cv2.addWeighted(img, α, gray, 1 − α, 0) in uint8.</summary>
    public static Mat AdjustColor(Mat img, double alpha)
    {
        using var gray = new Mat();
        Cv2.CvtColor(img, gray, ColorConversionCodes.BGR2GRAY);
        using var gray3 = new Mat();
        Cv2.CvtColor(gray, gray3, ColorConversionCodes.GRAY2BGR);
        var dst = new Mat();
        Cv2.AddWeighted(img, alpha, gray3, 1 - alpha, 0, dst);
        return dst;
    }

    /// <summary>img·f + degenerated·(1 − f) in float, clipped to [0, 255] and truncated to uint8 (numpy astype).</summary>
    public static Mat Blend(Mat img, double factor, Func<int, int, double> degenerated)
    {
        var data = CvInterop.ToBytes(img);
        int c = img.Channels(), n = img.Rows * img.Cols;
        var o = new byte[data.Length];
        float ff = (float)factor, g = (float)(1 - factor);
        for (int p = 0; p < n; p++)
            for (int k = 0; k < c; k++)
            {
                float v = data[p * c + k] * ff + (float)degenerated(p, k) * g;
                o[p * c + k] = (byte)Math.Clamp(v, 0f, 255f);
            }
        return FromBytes(o, img.Rows, img.Cols, c);
    }

    /// <summary><c>imequalize</c>: per channel, PIL's histogram equalisation.</summary>
    public static Mat Equalize(Mat img)
    {
        var data = CvInterop.ToBytes(img);
        int c = img.Channels(), n = img.Rows * img.Cols;
        var o = new byte[data.Length];
        Span<long> hist = stackalloc long[256];
        Span<int> lut = stackalloc int[256];
        for (int k = 0; k < c; k++)
        {
            hist.Clear();
            for (int p = 0; p < n; p++) hist[data[p * c + k]]++;
            long last = 0, total = 0;
            for (int v = 0; v < 256; v++) if (hist[v] > 0) { last = hist[v]; total += hist[v]; }
            long step = (total - last) / 255;
            if (step == 0)
            {
                for (int p = 0; p < n; p++) o[p * c + k] = data[p * c + k];
                continue;
            }
            long cum = 0;
            lut[0] = 0;
            for (int v = 0; v < 255; v++)
            {
                cum += hist[v];
                lut[v + 1] = (int)Math.Min(255, (cum + step / 2) / step);
            }
            for (int p = 0; p < n; p++) o[p * c + k] = (byte)lut[data[p * c + k]];
        }
        return FromBytes(o, img.Rows, img.Cols, c);
    }
}

/// <summary>MMDetection's <c>ColorTransform</c>: mmcv <c>adjust_color</c> with factor level/10·1.8 + 0.1, with probability prob.</summary>
[Register(Registries.PipelinesName, "ColorTransform")]
public sealed class ColorTransform(double level, double prob = 0.5) : IPipelineTransform
{
    private readonly double _factor = Check(level, prob);

    internal static double Check(double level, double prob)
    {
        Geometric.CheckCommon(level, prob, "colour transform");
        return ColorOps.EnhanceLevel(level);
    }

    public DetSample? Apply(DetSample sample, Random rng)
    {
        if (rng.NextDouble() > prob) return sample;
        sample.SetImg(ColorOps.AdjustColor(sample.Img!, _factor));
        return sample;
    }
}

/// <summary>MMDetection's <c>BrightnessTransform</c>: mmcv <c>adjust_brightness</c> (blend with black).</summary>
[Register(Registries.PipelinesName, "BrightnessTransform")]
public sealed class BrightnessTransform(double level, double prob = 0.5) : IPipelineTransform
{
    private readonly double _factor = ColorTransform.Check(level, prob);

    public DetSample? Apply(DetSample sample, Random rng)
    {
        if (rng.NextDouble() > prob) return sample;
        sample.SetImg(ColorOps.Blend(sample.Img!, _factor, (_, _) => 0));
        return sample;
    }
}

/// <summary>MMDetection's <c>ContrastTransform</c>: mmcv <c>adjust_contrast</c> (blend with the rounded mean grey).</summary>
[Register(Registries.PipelinesName, "ContrastTransform")]
public sealed class ContrastTransform(double level, double prob = 0.5) : IPipelineTransform
{
    private readonly double _factor = ColorTransform.Check(level, prob);

    public DetSample? Apply(DetSample sample, Random rng)
    {
        if (rng.NextDouble() > prob) return sample;
        var img = sample.Img!;
        using var gray = new Mat();
        Cv2.CvtColor(img, gray, ColorConversionCodes.BGR2GRAY);
        var g = CvInterop.ToBytes(gray);
        long sum = 0;
        foreach (byte b in g) sum += b;
        double mean = Math.Round((double)sum / g.Length, MidpointRounding.ToEven);
        sample.SetImg(ColorOps.Blend(img, _factor, (_, _) => mean));
        return sample;
    }
}

/// <summary>MMDetection's <c>EqualizeTransform</c>: mmcv <c>imequalize</c> with probability prob.</summary>
[Register(Registries.PipelinesName, "EqualizeTransform")]
public sealed class EqualizeTransform(double prob = 0.5) : IPipelineTransform
{
    public DetSample? Apply(DetSample sample, Random rng)
    {
        if (rng.NextDouble() > prob) return sample;
        sample.SetImg(ColorOps.Equalize(sample.Img!));
        return sample;
    }
}

/// <summary>
/// MMDetection's <c>PhotoMetricDistortion</c> on a float32 copy: random brightness delta, contrast before or after
/// (mode), saturation and hue in OpenCV's float HSV, random channel swap. Each step happens with probability 1/2.
/// </summary>
[Register(Registries.PipelinesName, "PhotoMetricDistortion")]
public sealed class PhotoMetricDistortion(double brightnessDelta = 32, IReadOnlyList<double>? contrastRange = null,
    IReadOnlyList<double>? saturationRange = null, double hueDelta = 18) : IPipelineTransform
{
    private readonly double[] _contrast = contrastRange is { Count: 2 } c ? [c[0], c[1]] : [0.5, 1.5];
    private readonly double[] _saturation = saturationRange is { Count: 2 } r ? [r[0], r[1]] : [0.5, 1.5];

    public DetSample? Apply(DetSample sample, Random rng)
    {
        var img = new Mat();
        sample.Img!.ConvertTo(img, MatType.CV_32FC3);
        if (rng.Next(2) == 1) Cv2.Add(img, Scalar.All(TransformArgs.Uniform(rng, -brightnessDelta, brightnessDelta)), img);
        int mode = rng.Next(2);
        if (mode == 1 && rng.Next(2) == 1) Cv2.Multiply(img, Scalar.All(TransformArgs.Uniform(rng, _contrast[0], _contrast[1])), img);
        Cv2.CvtColor(img, img, ColorConversionCodes.BGR2HSV);
        var channels = Cv2.Split(img);
        if (rng.Next(2) == 1) Cv2.Multiply(channels[1], Scalar.All(TransformArgs.Uniform(rng, _saturation[0], _saturation[1])), channels[1]);
        if (rng.Next(2) == 1)
        {
            Cv2.Add(channels[0], Scalar.All(TransformArgs.Uniform(rng, -hueDelta, hueDelta)), channels[0]);
            using var over = new Mat();
            Cv2.Compare(channels[0], Scalar.All(360), over, CmpTypes.GT);
            Cv2.Subtract(channels[0], Scalar.All(360), channels[0], over);
            using var under = new Mat();
            Cv2.Compare(channels[0], Scalar.All(0), under, CmpTypes.LT);
            Cv2.Add(channels[0], Scalar.All(360), channels[0], under);
        }
        Cv2.Merge(channels, img);
        foreach (var ch in channels) ch.Dispose();
        Cv2.CvtColor(img, img, ColorConversionCodes.HSV2BGR);
        if (mode == 0 && rng.Next(2) == 1) Cv2.Multiply(img, Scalar.All(TransformArgs.Uniform(rng, _contrast[0], _contrast[1])), img);
        if (rng.Next(2) == 1)
        {
            int[] perm = [0, 1, 2];
            for (int i = 2; i > 0; i--)
            {
                int j = rng.Next(i + 1);
                (perm[i], perm[j]) = (perm[j], perm[i]);
            }
            var parts = Cv2.Split(img);
            Cv2.Merge([parts[perm[0]], parts[perm[1]], parts[perm[2]]], img);
            foreach (var p in parts) p.Dispose();
        }
        sample.SetImg(img);
        return sample;
    }
}

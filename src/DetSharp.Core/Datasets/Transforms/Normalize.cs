using DetSharp.Registry;
using OpenCvSharp;

namespace DetSharp.Datasets.Transforms;

/// <summary>mmcv <c>imnormalize</c>: float32; BGR→RGB first when to_rgb; then (x − mean) / std per channel (cv2 subtract/multiply).</summary>
[Register(Registries.PipelinesName, "Normalize")]
public sealed class Normalize(IReadOnlyList<double> mean, IReadOnlyList<double> std, bool toRgb = true) : IPipelineTransform
{
    public DetSample? Apply(DetSample sample, Random rng)
    {
        var img = sample.Img!;
        var f = new Mat();
        img.ConvertTo(f, MatType.CV_32FC(img.Channels()));
        if (toRgb && f.Channels() == 3) Cv2.CvtColor(f, f, ColorConversionCodes.BGR2RGB);
        Cv2.Subtract(f, new Scalar(mean[0], mean[1], mean[2]), f);
        Cv2.Multiply(f, new Scalar(1 / std[0], 1 / std[1], 1 / std[2]), f);
        sample.SetImg(f);
        sample.ImgNormCfg = new ImageNormConfig(mean.Select(v => (float)v).ToArray(), std.Select(v => (float)v).ToArray(), toRgb);
        return sample;
    }
}

using DetSharp.Registry;
using DetSharp.Structures;
using OpenCvSharp;

namespace DetSharp.Datasets.Transforms;

/// <summary>
/// MMDetection's <c>YOLOXHSVRandomAug</c>: gains uniform(−1, 1)·(<c>hue_delta</c>, <c>saturation_delta</c>,
/// <c>value_delta</c>), each kept or zeroed by a coin (numpy <c>randint(0, 2)</c>), truncated to integers; in OpenCV's
/// uint8 HSV the hue is shifted modulo 180 and saturation and value are shifted and clipped to [0, 255]. Draws: the three
/// uniforms, then the three coins.
/// </summary>
[Register(Registries.PipelinesName, "YOLOXHSVRandomAug")]
public sealed class YOLOXHSVRandomAug(int hueDelta = 5, int saturationDelta = 30, int valueDelta = 30) : IPipelineTransform
{
    public DetSample? Apply(DetSample sample, Random rng)
    {
        var img = sample.Img!;
        if (img.Type() != MatType.CV_8UC3)
            throw new DetSharpException($"YOLOXHSVRandomAug works on BGR uint8 images (put it before Normalize); got {img.Type()}.");
        double[] gains = [TransformArgs.Uniform(rng, -1, 1) * hueDelta, TransformArgs.Uniform(rng, -1, 1) * saturationDelta, TransformArgs.Uniform(rng, -1, 1) * valueDelta];
        for (int k = 0; k < 3; k++) gains[k] *= rng.Next(0, 2);
        // numpy's astype(int16) truncates towards zero
        int dh = (short)gains[0], ds = (short)gains[1], dv = (short)gains[2];

        using var hsv = new Mat();
        Cv2.CvtColor(img, hsv, ColorConversionCodes.BGR2HSV);
        var data = CvInterop.ToBytes(hsv);
        for (int i = 0; i < data.Length; i += 3)
        {
            data[i] = (byte)(((data[i] + dh) % 180 + 180) % 180);
            data[i + 1] = (byte)Math.Clamp(data[i + 1] + ds, 0, 255);
            data[i + 2] = (byte)Math.Clamp(data[i + 2] + dv, 0, 255);
        }
        using var shifted = ColorOps.FromBytes(data, img.Rows, img.Cols, 3);
        var bgr = new Mat();
        Cv2.CvtColor(shifted, bgr, ColorConversionCodes.HSV2BGR);
        sample.SetImg(bgr);
        return sample;
    }
}

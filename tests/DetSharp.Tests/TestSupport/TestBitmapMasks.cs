using DetSharp.Ops;
using DetSharp.Structures;
using OpenCvSharp;
using static TorchSharp.torch;

namespace DetSharp.Tests.TestSupport;

/// <summary>
/// Test-only bitmap masks (the real BitmapMasks belong to the data pipeline): row-major 0/1 bytes per instance,
/// <see cref="CropAndResize"/> as MMDetection's <c>BitmapMasks.crop_and_resize</c> (mmcv RoIAlign with
/// aligned=True, sampling_ratio 0, avg, then ≥ 0.5).
/// </summary>
internal sealed class TestBitmapMasks(byte[][] masks, int height, int width) : IInstanceMasks
{
    public int Count => masks.Length;

    public int Height => height;

    public int Width => width;

    public byte[][] Masks => masks;

    public double[] Areas() => masks.Select(m => (double)m.Count(b => b != 0)).ToArray();

    public float[] CropAndResize(ReadOnlySpan<float> boxes, ReadOnlySpan<int> indices, int outHeight, int outWidth)
    {
        int n = indices.Length;
        if (n == 0) return [];
        using var scope = NewDisposeScope();
        var rois = new float[n * 5];
        var data = new float[(long)n * height * width];
        for (int i = 0; i < n; i++)
        {
            rois[i * 5] = i;
            for (int c = 0; c < 4; c++) rois[i * 5 + 1 + c] = boxes[i * 4 + c];
            var m = masks[indices[i]];
            for (long p = 0; p < m.Length; p++) data[i * (long)height * width + p] = m[p];
        }
        var input = tensor(data, [n, 1, height, width]);
        var r = tensor(rois, [n, 5]);
        var t = RoIAlign.Apply(input, r, new RoIAlignOptions(outHeight, outWidth, 1f, 0, RoIAlignPoolMode.Avg, true));
        return (t >= 0.5f).to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
    }

    /// <summary>mmcv <c>imrescale</c> with nearest interpolation to (w, h), then zero padding to (padH, padW).</summary>
    public TestBitmapMasks RescaleAndPad(int newW, int newH, int padH, int padW)
    {
        var result = new byte[masks.Length][];
        for (int i = 0; i < masks.Length; i++)
        {
            using var src = new Mat(height, width, MatType.CV_8UC1);
            src.SetArray(masks[i]);
            using var dst = new Mat();
            Cv2.Resize(src, dst, new OpenCvSharp.Size(newW, newH), 0, 0, InterpolationFlags.Nearest);
            dst.GetArray(out byte[] resized);
            var padded = new byte[padH * padW];
            for (int y = 0; y < newH; y++) Array.Copy(resized, y * newW, padded, y * padW, newW);
            result[i] = padded;
        }
        return new TestBitmapMasks(result, padH, padW);
    }
}

using System.Runtime.InteropServices;
using OpenCvSharp;

namespace DetSharp.Structures;

/// <summary>OpenCV calls on single-channel byte planes, as mmcv makes them on masks.</summary>
internal static class CvInterop
{
    public static byte[] ToBytes(Mat mat)
    {
        using var continuous = mat.IsContinuous() ? null : mat.Clone();
        var source = continuous ?? mat;
        var bytes = new byte[checked((int)(source.Total() * source.ElemSize()))];
        Marshal.Copy(source.Data, bytes, 0, bytes.Length);
        return bytes;
    }

    public static Mat Wrap(byte[] plane, int height, int width) => Mat.FromPixelData(height, width, MatType.CV_8UC1, plane);

    public static byte[] Resize(byte[] plane, int height, int width, int newHeight, int newWidth, InterpolationFlags interpolation)
    {
        if (newHeight == height && newWidth == width && interpolation == InterpolationFlags.Nearest) return (byte[])plane.Clone();
        using var src = Wrap(plane, height, width);
        using var dst = new Mat();
        Cv2.Resize(src, dst, new Size(newWidth, newHeight), 0, 0, interpolation);
        return ToBytes(dst);
    }

    /// <summary><c>cv2.warpAffine</c> with a constant border.</summary>
    public static byte[] WarpAffine(byte[] plane, int height, int width, ReadOnlySpan<double> matrix, int outHeight, int outWidth,
        InterpolationFlags interpolation, double border)
    {
        using var src = Wrap(plane, height, width);
        using var m = AffineMat(matrix);
        using var dst = new Mat();
        Cv2.WarpAffine(src, dst, m, new Size(outWidth, outHeight), interpolation, BorderTypes.Constant, new Scalar(border, border, border, border));
        return ToBytes(dst);
    }

    public static Mat AffineMat(ReadOnlySpan<double> matrix)
    {
        var m = new Mat(2, 3, MatType.CV_64FC1);
        for (int r = 0; r < 2; r++)
            for (int c = 0; c < 3; c++)
                m.Set(r, c, matrix[r * 3 + c]);
        return m;
    }
}

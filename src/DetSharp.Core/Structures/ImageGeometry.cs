namespace DetSharp.Structures;

/// <summary>mmcv's size arithmetic shared by images, boxes and masks.</summary>
public static class ImageGeometry
{
    /// <summary>
    /// mmcv <c>rescale_size((w, h), scale)</c> for a tuple scale: factor = min(max(scale)/max(h,w), min(scale)/min(h,w)),
    /// new size <c>int(w·f + 0.5)</c> × <c>int(h·f + 0.5)</c>. Returns (newWidth, newHeight, factor).
    /// </summary>
    public static (int Width, int Height, double Factor) RescaleSize(int width, int height, int scaleA, int scaleB)
    {
        double longEdge = Math.Max(scaleA, scaleB), shortEdge = Math.Min(scaleA, scaleB);
        double factor = Math.Min(longEdge / Math.Max(height, width), shortEdge / Math.Min(height, width));
        return ((int)(width * factor + 0.5), (int)(height * factor + 0.5), factor);
    }

    /// <summary>mmcv <c>rescale_size</c> for a number: <c>int(w·f + 0.5)</c> × <c>int(h·f + 0.5)</c>.</summary>
    public static (int Width, int Height) RescaleSize(int width, int height, double factor) =>
        ((int)(width * factor + 0.5), (int)(height * factor + 0.5));

    /// <summary>
    /// <c>cv2.getRotationMatrix2D(center, -angle, scale)</c> as mmcv's <c>imrotate</c> builds it: positive angles turn
    /// clockwise. Returns the 2×3 matrix row-major.
    /// </summary>
    public static double[] RotationMatrix(double centerX, double centerY, double angleDegrees, double scale)
    {
        // OpenCV takes the centre as Point2f.
        double cx = (float)centerX, cy = (float)centerY;
        double a = -angleDegrees * Math.PI / 180;
        double alpha = Math.Cos(a) * scale, beta = Math.Sin(a) * scale;
        return [alpha, beta, (1 - alpha) * cx - beta * cy, -beta, alpha, beta * cx + (1 - alpha) * cy];
    }
}

namespace DetSharp.Structures;

/// <summary>
/// mmcv's CPU <c>roi_align</c> forward for one single-channel plane and one RoI, in float arithmetic as the kernel:
/// aligned=True (coordinates − 0.5, no minimum RoI size), average pooling, sampling_ratio 0 (ceil(roi size / output size)
/// samples per bin and axis), spatial scale 1; samples beyond −1 or the far edge read 0.
/// </summary>
public static class RoiAlign
{
    public static void AlignedAverage(ReadOnlySpan<byte> plane, int height, int width, ReadOnlySpan<float> box,
        int outHeight, int outWidth, Span<float> output)
    {
        float startW = box[0] - 0.5f, startH = box[1] - 0.5f;
        float roiW = box[2] - 0.5f - startW, roiH = box[3] - 0.5f - startH;
        float binH = roiH / outHeight, binW = roiW / outWidth;
        int gridH = (int)MathF.Ceiling(roiH / outHeight), gridW = (int)MathF.Ceiling(roiW / outWidth);
        float count = Math.Max(gridH * gridW, 1);
        for (int ph = 0; ph < outHeight; ph++)
        {
            for (int pw = 0; pw < outWidth; pw++)
            {
                float sum = 0;
                for (int iy = 0; iy < gridH; iy++)
                {
                    float yy = startH + ph * binH + (iy + .5f) * binH / gridH;
                    for (int ix = 0; ix < gridW; ix++)
                    {
                        float xx = startW + pw * binW + (ix + .5f) * binW / gridW;
                        sum += Bilinear(plane, height, width, yy, xx);
                    }
                }
                output[ph * outWidth + pw] = sum / count;
            }
        }
    }

    private static float Bilinear(ReadOnlySpan<byte> plane, int height, int width, float y, float x)
    {
        if (y < -1.0f || y > height || x < -1.0f || x > width) return 0;
        if (y <= 0) y = 0;
        if (x <= 0) x = 0;
        int yLow = (int)y, xLow = (int)x, yHigh, xHigh;
        if (yLow >= height - 1) { yHigh = yLow = height - 1; y = yLow; }
        else yHigh = yLow + 1;
        if (xLow >= width - 1) { xHigh = xLow = width - 1; x = xLow; }
        else xHigh = xLow + 1;
        float ly = y - yLow, lx = x - xLow, hy = 1f - ly, hx = 1f - lx;
        float w1 = hy * hx, w2 = hy * lx, w3 = ly * hx, w4 = ly * lx;
        return w1 * plane[yLow * width + xLow] + w2 * plane[yLow * width + xHigh]
             + w3 * plane[yHigh * width + xLow] + w4 * plane[yHigh * width + xHigh];
    }
}

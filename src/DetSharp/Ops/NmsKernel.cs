using System.Numerics;

namespace DetSharp.Ops;

/// <summary>
/// Greedy NMS over float arrays, with mmcv's CPU arithmetic: areas <c>(x2 - x1 + offset) * (y2 - y1 + offset)</c>,
/// IoU <c>inter / (area_i + area_j - inter)</c> in float32, suppression when IoU &gt; threshold.
/// Boxes are visited by score, descending; among equal scores the higher index first (what torch's descending
/// sort gave in the mmcv reference). The inner loop runs over score-sorted structure-of-arrays copies, SIMD-wide.
/// </summary>
internal static class NmsKernel
{
    /// <summary>Indices of <paramref name="scores"/> by score descending, ties by index descending.</summary>
    public static int[] SortDescending(ReadOnlySpan<float> scores)
    {
        int n = scores.Length;
        var keys = new ulong[n];
        for (int i = 0; i < n; i++)
        {
            keys[i] = ((ulong)OrderedBits(scores[i]) << 32) | (uint)i;
        }

        Array.Sort(keys);
        var order = new int[n];
        for (int i = 0; i < n; i++)
        {
            order[i] = (int)(uint)keys[n - 1 - i];
        }

        return order;
    }

    /// <summary>Maps a float to a uint with the same ordering (NaN sorts above +inf).</summary>
    private static uint OrderedBits(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        return (u & 0x80000000u) != 0 ? ~u : u | 0x80000000u;
    }

    /// <summary>
    /// Runs NMS on <paramref name="boxes"/> (n x [x1, y1, x2, y2], row-major) and returns the kept indices in
    /// visiting order (score descending).
    /// </summary>
    public static int[] Run(ReadOnlySpan<float> boxes, ReadOnlySpan<float> scores, float iouThreshold, float offset = 0f)
    {
        int n = scores.Length;
        if (n == 0)
        {
            return Array.Empty<int>();
        }

        var order = SortDescending(scores);
        var x1 = new float[n];
        var y1 = new float[n];
        var x2 = new float[n];
        var y2 = new float[n];
        var area = new float[n];
        for (int i = 0; i < n; i++)
        {
            int b = order[i] * 4;
            x1[i] = boxes[b];
            y1[i] = boxes[b + 1];
            x2[i] = boxes[b + 2];
            y2[i] = boxes[b + 3];
            area[i] = (x2[i] - x1[i] + offset) * (y2[i] - y1[i] + offset);
        }

        // 0 = alive, -1 = suppressed (an int mask so the SIMD compare result can be OR-ed in directly).
        var suppressed = new int[n];
        var keep = new List<int>(Math.Min(n, 1024));
        int width = Vector<float>.Count;
        var thr = new Vector<float>(iouThreshold);
        var off = new Vector<float>(offset);
        for (int i = 0; i < n; i++)
        {
            if (suppressed[i] != 0)
            {
                continue;
            }

            keep.Add(order[i]);
            float ix1 = x1[i], iy1 = y1[i], ix2 = x2[i], iy2 = y2[i], iarea = area[i];
            int j = i + 1;
            if (Vector.IsHardwareAccelerated && n - j >= width)
            {
                var vx1 = new Vector<float>(ix1);
                var vy1 = new Vector<float>(iy1);
                var vx2 = new Vector<float>(ix2);
                var vy2 = new Vector<float>(iy2);
                var va = new Vector<float>(iarea);
                for (; j + width <= n; j += width)
                {
                    var xx1 = Vector.Max(vx1, new Vector<float>(x1, j));
                    var yy1 = Vector.Max(vy1, new Vector<float>(y1, j));
                    var xx2 = Vector.Min(vx2, new Vector<float>(x2, j));
                    var yy2 = Vector.Min(vy2, new Vector<float>(y2, j));
                    var w = Vector.Max(Vector<float>.Zero, xx2 - xx1 + off);
                    var h = Vector.Max(Vector<float>.Zero, yy2 - yy1 + off);
                    var inter = w * h;
                    var iou = inter / (va + new Vector<float>(area, j) - inter);
                    var hit = Vector.GreaterThan(iou, thr);
                    (new Vector<int>(suppressed, j) | hit).CopyTo(suppressed, j);
                }
            }

            for (; j < n; j++)
            {
                float xx1 = MathF.Max(ix1, x1[j]);
                float yy1 = MathF.Max(iy1, y1[j]);
                float xx2 = MathF.Min(ix2, x2[j]);
                float yy2 = MathF.Min(iy2, y2[j]);
                float w = MathF.Max(0f, xx2 - xx1 + offset);
                float h = MathF.Max(0f, yy2 - yy1 + offset);
                float inter = w * h;
                float iou = inter / (iarea + area[j] - inter);
                if (iou > iouThreshold)
                {
                    suppressed[j] = -1;
                }
            }
        }

        return keep.ToArray();
    }
}

namespace DetSharp.Ops;

/// <summary>
/// Soft-NMS (Bodla et al. 2017) with mmcv 1.7.1's CPU arithmetic (<c>softnms_cpu</c>): repeatedly pick the highest
/// remaining score (the first one on ties, by current position), then rescale every later box by its IoU with it —
/// naive: 0 when IoU &gt;= threshold; linear: <c>1 - IoU</c> when IoU &gt;= threshold; gaussian: <c>exp(-IoU² / sigma)</c> —
/// and drop, by moving the last box into its place, any box whose score falls below <c>min_score</c>. Everything in float32,
/// with the same swaps as mmcv, so that ties resolve as there.
/// </summary>
internal static class SoftNmsKernel
{
    /// <summary>Returns the kept indices in selection order and their rescored scores.</summary>
    public static (int[] Keep, float[] Scores) Run(ReadOnlySpan<float> boxes, ReadOnlySpan<float> scores, float iouThreshold, float sigma, float minScore, int method, float offset)
    {
        int n = scores.Length;
        var x1 = new float[n];
        var y1 = new float[n];
        var x2 = new float[n];
        var y2 = new float[n];
        var area = new float[n];
        var sc = scores.ToArray();
        var inds = new int[n];
        for (int i = 0; i < n; i++)
        {
            x1[i] = boxes[i * 4];
            y1[i] = boxes[i * 4 + 1];
            x2[i] = boxes[i * 4 + 2];
            y2[i] = boxes[i * 4 + 3];
            area[i] = (x2[i] - x1[i] + offset) * (y2[i] - y1[i] + offset);
            inds[i] = i;
        }

        for (int i = 0; i < n; i++)
        {
            int maxPos = i;
            for (int pos = i + 1; pos < n; pos++)
            {
                if (sc[maxPos] < sc[pos])
                {
                    maxPos = pos;
                }
            }

            Swap(i, maxPos);
            float ix1 = x1[i], iy1 = y1[i], ix2 = x2[i], iy2 = y2[i], iarea = area[i];
            for (int pos = i + 1; pos < n; pos++)
            {
                float w = MathF.Max(0f, MathF.Min(ix2, x2[pos]) - MathF.Max(ix1, x1[pos]) + offset);
                float h = MathF.Max(0f, MathF.Min(iy2, y2[pos]) - MathF.Max(iy1, y1[pos]) + offset);
                float inter = w * h;
                float ovr = inter / (iarea + area[pos] - inter);
                float weight = method switch
                {
                    0 => ovr >= iouThreshold ? 0f : 1f,
                    1 => ovr >= iouThreshold ? 1f - ovr : 1f,
                    _ => MathF.Exp(-(ovr * ovr) / sigma),
                };
                sc[pos] *= weight;
                if (sc[pos] < minScore)
                {
                    n--;
                    Move(n, pos);
                    pos--;
                }
            }
        }

        return (inds[..n], sc[..n]);

        void Swap(int a, int b)
        {
            (x1[a], x1[b]) = (x1[b], x1[a]);
            (y1[a], y1[b]) = (y1[b], y1[a]);
            (x2[a], x2[b]) = (x2[b], x2[a]);
            (y2[a], y2[b]) = (y2[b], y2[a]);
            (sc[a], sc[b]) = (sc[b], sc[a]);
            (area[a], area[b]) = (area[b], area[a]);
            (inds[a], inds[b]) = (inds[b], inds[a]);
        }

        void Move(int from, int to)
        {
            x1[to] = x1[from];
            y1[to] = y1[from];
            x2[to] = x2[from];
            y2[to] = y2[from];
            sc[to] = sc[from];
            area[to] = area[from];
            inds[to] = inds[from];
        }
    }
}

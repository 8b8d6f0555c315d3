using static TorchSharp.torch;

namespace DetSharp.Ops;

/// <summary>
/// mmcv's <c>nms_match</c>: NMS that, instead of dropping the suppressed boxes, returns them as groups — each kept box
/// (in score order) followed by the not-yet-suppressed boxes it suppresses (IoU ≥ <c>iou_threshold</c>, offset 0), in
/// score order. PISA's <c>ScoreHLRSampler</c> ranks negatives within these groups. Runs on the CPU; no gradient.
/// </summary>
public static class NmsMatch
{
    /// <summary>The groups of indices into <paramref name="dets"/> [N, 5] = (x1, y1, x2, y2, score).</summary>
    public static List<long[]> Groups(Tensor dets, double iouThreshold)
    {
        if (dets.dim() != 2 || dets.shape[1] != 5) throw new ArgumentException($"nms_match: dets must be [N, 5], got [{string.Join(", ", dets.shape)}].");
        var groups = new List<long[]>();
        long n = dets.shape[0];
        if (n == 0) return groups;
        var d = dets.detach().cpu().to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
        long[] order = dets[.., 4].detach().cpu().sort(0, descending: true).Indices.data<long>().ToArray();
        var area = new float[n];
        for (long i = 0; i < n; i++) area[i] = (d[i * 5 + 2] - d[i * 5]) * (d[i * 5 + 3] - d[i * 5 + 1]);
        var suppressed = new bool[n];
        float thr = (float)iouThreshold;
        for (int oi = 0; oi < n; oi++)
        {
            long i = order[oi];
            if (suppressed[i]) continue;
            var group = new List<long> { i };
            for (int oj = oi + 1; oj < n; oj++)
            {
                long j = order[oj];
                if (suppressed[j]) continue;
                float w = Math.Max(0f, Math.Min(d[i * 5 + 2], d[j * 5 + 2]) - Math.Max(d[i * 5], d[j * 5]));
                float h = Math.Max(0f, Math.Min(d[i * 5 + 3], d[j * 5 + 3]) - Math.Max(d[i * 5 + 1], d[j * 5 + 1]));
                float inter = w * h;
                if (inter / (area[i] + area[j] - inter) >= thr)
                {
                    suppressed[j] = true;
                    group.Add(j);
                }
            }
            groups.Add([.. group]);
        }
        return groups;
    }
}

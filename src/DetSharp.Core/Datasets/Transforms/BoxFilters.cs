namespace DetSharp.Datasets.Transforms;

/// <summary>
/// The box filters the YOLOX transforms share, in MMDetection's float32 arithmetic: <c>find_inside_bboxes</c> (a box stays
/// while any part of it lies inside the image) and the candidate test of RandomAffine's <c>filter_gt_bboxes</c> and MixUp's
/// <c>_filter_box_candidates</c> (the same rule in both).
/// </summary>
internal static class BoxFilters
{
    /// <summary>mmdet's <c>find_inside_bboxes</c>: x1 &lt; w, x2 &gt; 0, y1 &lt; h, y2 &gt; 0.</summary>
    public static bool[] Inside(float[] boxes, float h, float w)
    {
        var keep = new bool[boxes.Length / 4];
        for (int i = 0; i < keep.Length; i++)
            keep[i] = boxes[i * 4] < w && boxes[i * 4 + 2] > 0 && boxes[i * 4 + 1] < h && boxes[i * 4 + 3] > 0;
        return keep;
    }

    /// <summary>
    /// Boxes worth keeping after a geometric change from <paramref name="before"/> to <paramref name="after"/>: both sides
    /// over <paramref name="minSize"/>, area ratio over <paramref name="minAreaRatio"/> and aspect ratio under
    /// <paramref name="maxAspectRatio"/>.
    /// </summary>
    public static bool[] Candidates(float[] before, float[] after, double minSize, double minAreaRatio, double maxAspectRatio)
    {
        var keep = new bool[after.Length / 4];
        float eps = 1e-16f, min = (float)minSize, area = (float)minAreaRatio, aspect = (float)maxAspectRatio;
        for (int i = 0; i < keep.Length; i++)
        {
            float w1 = before[i * 4 + 2] - before[i * 4], h1 = before[i * 4 + 3] - before[i * 4 + 1];
            float w2 = after[i * 4 + 2] - after[i * 4], h2 = after[i * 4 + 3] - after[i * 4 + 1];
            float ar = Math.Max(w2 / (h2 + eps), h2 / (w2 + eps));
            keep[i] = w2 > min && h2 > min && w2 * h2 / (w1 * h1 + eps) > area && ar < aspect;
        }
        return keep;
    }

    /// <summary>The indices where <paramref name="mask"/> is true.</summary>
    public static int[] Indices(bool[] mask)
    {
        var keep = new List<int>(mask.Length);
        for (int i = 0; i < mask.Length; i++) if (mask[i]) keep.Add(i);
        return keep.ToArray();
    }

    /// <summary>The boxes (n×4 row-major) and labels at <paramref name="keep"/>.</summary>
    public static (float[] Boxes, long[] Labels) Select(float[] boxes, long[] labels, int[] keep)
    {
        var b = new float[keep.Length * 4];
        var l = new long[keep.Length];
        for (int i = 0; i < keep.Length; i++)
        {
            boxes.AsSpan(keep[i] * 4, 4).CopyTo(b.AsSpan(i * 4, 4));
            l[i] = labels[keep[i]];
        }
        return (b, l);
    }
}

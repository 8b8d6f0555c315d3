using static TorchSharp.torch;

namespace DetSharp.Models.Common;

/// <summary>MMDetection's box helpers (<c>bbox2roi</c>, <c>anchor_inside_flags</c>, <c>unmap</c>, <c>images_to_levels</c>).</summary>
public static class BoxTools
{
    /// <summary><c>bbox2roi</c>: per-image [N_i, 4+] boxes → [ΣN_i, 5] rows (batch_idx, x1, y1, x2, y2).</summary>
    public static Tensor Bbox2Roi(IReadOnlyList<Tensor> bboxList)
    {
        var rois = new List<Tensor>();
        for (int i = 0; i < bboxList.Count; i++)
        {
            var b = bboxList[i];
            if (b.shape[0] > 0)
                rois.Add(cat([full(b.shape[0], 1, (float)i, b.dtype, b.device), b[.., 0..4]], 1));
            else
                rois.Add(zeros(0, 5, b.dtype, b.device));
        }
        return cat(rois, 0);
    }

    /// <summary><c>anchor_inside_flags</c>: valid anchors lying within the image grown by <paramref name="allowedBorder"/> (≥ 0), else just valid.</summary>
    public static Tensor AnchorInsideFlags(Tensor anchors, Tensor validFlags, (int Height, int Width) imgShape, int allowedBorder)
    {
        if (allowedBorder < 0) return validFlags;
        return validFlags
               & (anchors[.., 0] >= -allowedBorder)
               & (anchors[.., 1] >= -allowedBorder)
               & (anchors[.., 2] < imgShape.Width + allowedBorder)
               & (anchors[.., 3] < imgShape.Height + allowedBorder);
    }

    /// <summary><c>unmap</c>: scatters <paramref name="data"/> back to <paramref name="count"/> rows at <paramref name="inds"/> (bool mask), others <paramref name="fill"/>.</summary>
    public static Tensor Unmap(Tensor data, long count, Tensor inds, double fill = 0)
    {
        var shape = data.shape.ToArray();
        shape[0] = count;
        var ret = full(shape, fill, data.dtype, data.device);
        ret[inds] = data;
        return ret;
    }

    /// <summary><c>images_to_levels</c>: per-image targets [N_total, ...] → per-level [num_imgs, N_level, ...].</summary>
    public static Tensor[] ImagesToLevels(IReadOnlyList<Tensor> target, IReadOnlyList<long> numLevelAnchors)
    {
        var stacked = stack(target, 0);
        var result = new Tensor[numLevelAnchors.Count];
        long start = 0;
        for (int i = 0; i < numLevelAnchors.Count; i++)
        {
            long end = start + numLevelAnchors[i];
            result[i] = stacked[.., (int)start..(int)end];
            start = end;
        }
        return result;
    }
}

using DetSharp.Registry;

namespace DetSharp.Datasets.Transforms;

/// <summary>
/// MMDetection's <c>FilterAnnotations</c>: keeps the instances whose box is wider and taller than <c>min_gt_bbox_wh</c>
/// (<c>by_box</c>) and/or whose mask area reaches <c>min_gt_mask_area</c> (<c>by_mask</c>), in gt_bboxes, gt_labels and
/// gt_masks. A sample with no instances passes unchanged; one left with none is dropped (null) when <c>keep_empty</c> is
/// true — MMDetection's name reads the other way round, its docstring says "whether to return None".
/// </summary>
[Register(Registries.PipelinesName, "FilterAnnotations")]
public sealed class FilterAnnotations : IPipelineTransform
{
    private readonly double _minW, _minH, _minMaskArea;
    private readonly bool _byBox, _byMask, _keepEmpty;

    public FilterAnnotations(IReadOnlyList<double>? minGtBboxWh = null, double minGtMaskArea = 1, bool byBox = true, bool byMask = false, bool keepEmpty = true)
    {
        if (!byBox && !byMask) throw new DetSharpException("FilterAnnotations: by_box and by_mask are both False; set at least one.");
        var wh = minGtBboxWh ?? [1.0, 1.0];
        if (wh.Count != 2) throw new DetSharpException("FilterAnnotations: min_gt_bbox_wh must be (w, h).");
        (_minW, _minH) = (wh[0], wh[1]);
        _minMaskArea = minGtMaskArea;
        _byBox = byBox;
        _byMask = byMask;
        _keepEmpty = keepEmpty;
    }

    public DetSample? Apply(DetSample sample, Random rng)
    {
        var boxes = sample.GtBboxes;
        var masks = sample.GtMasks;
        if (_byBox && boxes is null) throw new DetSharpException("FilterAnnotations(by_box=True) needs gt_bboxes (LoadAnnotations with_bbox=True first).");
        if (_byMask && masks is null) throw new DetSharpException("FilterAnnotations(by_mask=True) needs gt_masks (LoadAnnotations with_mask=True first).");
        int count = _byMask ? masks!.Count : boxes!.Length / 4;
        if (count == 0) return sample;

        var keep = new bool[count];
        var areas = _byMask ? masks!.Areas() : null;
        float minW = (float)_minW, minH = (float)_minH;
        for (int i = 0; i < count; i++)
        {
            keep[i] = true;
            if (_byBox) keep[i] = boxes![i * 4 + 2] - boxes[i * 4] > minW && boxes[i * 4 + 3] - boxes[i * 4 + 1] > minH;
            if (_byMask) keep[i] &= areas![i] >= _minMaskArea;
        }
        var kept = BoxFilters.Indices(keep);
        if (boxes is not null) sample.FilterInstances("gt_bboxes", kept);
        else
        {
            sample.GtMasks = masks!.Select(kept);
            if (sample.GtLabels is { } labels) sample.GtLabels = kept.Select(i => labels[i]).ToArray();
        }
        return kept.Length == 0 && _keepEmpty ? null : sample;
    }
}

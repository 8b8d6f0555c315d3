using System.Text.Json;
using DetSharp.Structures;

namespace DetSharp.Datasets;

/// <summary>
/// MMDetection's <c>ann_info</c> of one image (<c>get_ann_info</c>): kept boxes (float32 x1, y1, x2, y2, no +1) with
/// their labels and raw segmentations, crowd boxes as <see cref="BboxesIgnore"/>, the seg-map name, and for every kept
/// box the annotation id and its non-COCO keys (e.g. <c>occ</c>, <c>truncate</c>, <c>direct</c>).
/// </summary>
public sealed record AnnInfo
{
    /// <summary>n×4 boxes, row-major.</summary>
    public required float[] Bboxes { get; init; }

    public required long[] Labels { get; init; }

    /// <summary>m×4 crowd boxes.</summary>
    public required float[] BboxesIgnore { get; init; }

    /// <summary>The segmentation of each kept box (null where the annotation has none).</summary>
    public required CocoSegmentation?[] Masks { get; init; }

    public string? SegMap { get; init; }

    /// <summary>The annotation id of each kept box.</summary>
    public long[] AnnotationIds { get; init; } = [];

    /// <summary>The extra JSON keys of each kept box's annotation.</summary>
    public IReadOnlyList<IReadOnlyDictionary<string, JsonElement>> Extras { get; init; } = [];

    public int Count => Labels.Length;
}

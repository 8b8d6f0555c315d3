using System.Text.Json;
using DetSharp.Structures;

namespace DetSharp.Evaluation;

/// <summary>
/// Loads detection results (<c>[{image_id, category_id, bbox, score, segmentation}, ...]</c>) against a ground truth,
/// with pycocotools' <c>COCO.loadRes</c> semantics: the first entry decides the branch. If it has a non-empty
/// <c>bbox</c>, every entry is a box result: <c>area = w*h</c> and, without a <c>segmentation</c>, the box polygon
/// stands for the segmentation (made by <see cref="CocoEval"/> when a segm evaluation needs it). Otherwise entries are mask results: <c>area</c> is the mask area and a missing
/// <c>bbox</c> is the mask's box. Ids are 1..N in file order; <c>iscrowd</c> is 0.
/// </summary>
public static class CocoResults
{
    /// <summary>Loads a results JSON file. <paramref name="dropBbox"/> removes each entry's <c>bbox</c> first
    /// (MMDetection ≥ 2.12 does this for segm so that mask areas decide small/medium/large).</summary>
    public static CocoApi Load(string path, CocoApi groundTruth, bool dropBbox = false)
    {
        using var doc = JsonFiles.Parse(path);
        return FromJson(doc.RootElement, groundTruth, path, dropBbox);
    }

    public static CocoApi FromJson(JsonElement root, CocoApi groundTruth, string source, bool dropBbox = false)
    {
        if (root.ValueKind != JsonValueKind.Array)
            throw new DetSharpException($"{source}: results must be a JSON list of detections [{{image_id, category_id, bbox, score}}, ...], got {root.ValueKind}.");
        int n = root.GetArrayLength();
        var annotations = new CocoAnnotation[n];
        if (n > 0)
        {
            var first = root[0];
            if (first.ValueKind != JsonValueKind.Object)
                throw new DetSharpException($"{source}: results[0] is a {first.ValueKind}, expected an object.");
            bool boxBranch = !dropBbox && first.TryGetProperty("bbox", out var fb) && !(fb.ValueKind == JsonValueKind.Array && fb.GetArrayLength() == 0);
            if (!boxBranch && !first.TryGetProperty("segmentation", out _))
                throw new DetSharpException($"{source}: results[0] has neither 'bbox' nor 'segmentation'; each result needs 'bbox' (and optionally 'segmentation').");
            int i = 0;
            foreach (var item in root.EnumerateArray())
            {
                annotations[i] = Read(item, i, boxBranch, dropBbox, groundTruth, source);
                i++;
            }
        }
        return new CocoApi(groundTruth.Images, groundTruth.Categories, annotations);
    }

    /// <summary>
    /// Results from detections in memory, exactly as <see cref="Load"/> reads them back from the file
    /// <see cref="CocoResultsWriter"/> writes (<paramref name="dropBbox"/> as there), without the file.
    /// </summary>
    public static CocoApi FromDetections(IReadOnlyList<CocoDetection> detections, CocoApi groundTruth, bool dropBbox = false) =>
        FromDetections(detections.Select(d => new CocoAnnotation
        {
            ImageId = d.ImageId,
            CategoryId = d.CategoryId,
            Score = d.Score,
            HasBbox = !dropBbox,
            Bbox = dropBbox ? default : d.Bbox,
            Segmentation = d.Mask is { } mask ? new RleSegmentation(mask) : null,
        }).ToList(), groundTruth);

    /// <summary>Builds results from in-memory detections (same semantics as <see cref="FromJson"/>: box branch if the first has a box).</summary>
    public static CocoApi FromDetections(IReadOnlyList<CocoAnnotation> detections, CocoApi groundTruth)
    {
        var annotations = new CocoAnnotation[detections.Count];
        bool boxBranch = detections.Count > 0 && detections[0].HasBbox;
        for (int i = 0; i < detections.Count; i++)
        {
            var d = detections[i];
            string where = $"detections[{i}]";
            if (!groundTruth.ImagesById.TryGetValue(d.ImageId, out var image))
                throw NotInGt(where, d.ImageId);
            annotations[i] = Complete(d, i, boxBranch, image, where);
        }
        return new CocoApi(groundTruth.Images, groundTruth.Categories, annotations);
    }

    private static CocoAnnotation Read(JsonElement item, int index, bool boxBranch, bool dropBbox, CocoApi gt, string source)
    {
        string where = $"{source}: results[{index}]";
        long imageId = JsonFiles.Id(item, "image_id", where);
        if (!gt.ImagesById.TryGetValue(imageId, out var image)) throw NotInGt(where, imageId);
        long categoryId = JsonFiles.Id(item, "category_id", where);
        double score = JsonFiles.Number(item, "score", where);
        bool hasBbox = !dropBbox && item.TryGetProperty("bbox", out var bb);
        if (boxBranch && !hasBbox) throw new DetSharpException($"{where} has no 'bbox' key (results[0] has one, so every result needs one).");
        CocoSegmentation? seg = null;
        if (item.TryGetProperty("segmentation", out var s)) seg = CocoSegmentation.Parse(s, where);
        else if (!boxBranch) throw new DetSharpException($"{where} has no 'segmentation' key (results[0] is a mask result, so every result needs one).");
        var d = new CocoAnnotation
        {
            ImageId = imageId,
            CategoryId = categoryId,
            Score = score,
            HasBbox = hasBbox,
            Bbox = hasBbox ? JsonFiles.Box(item.GetProperty("bbox"), where) : default,
            Segmentation = seg,
        };
        return Complete(d, index, boxBranch, image, where);
    }

    private static CocoAnnotation Complete(CocoAnnotation d, int index, bool boxBranch, CocoImage image, string where)
    {
        if (boxBranch)
        {
            if (!d.HasBbox) throw new DetSharpException($"{where} has no 'bbox' (the first result has one, so every result needs one).");
            var b = d.Bbox;
            // pycocotools also gives a box result without 'segmentation' the box polygon; that is made only
            // when a segm evaluation asks for it (CocoEval), not for every one of 500k box results.
            return d with { Id = index + 1, Area = b.W * b.H, IsCrowd = false };
        }
        if (d.Segmentation == null) throw new DetSharpException($"{where} has no 'segmentation' (the first result is a mask result).");
        Rle rle;
        try
        {
            rle = d.Segmentation.ToRle(image.Height, image.Width);
        }
        catch (FormatException e)
        {
            throw new DetSharpException($"{where}: 'segmentation' is not a valid RLE: {e.Message}", e);
        }
        return d with
        {
            Id = index + 1,
            Area = rle.Area(),
            IsCrowd = false,
            Bbox = d.HasBbox ? d.Bbox : rle.ToBbox(),
            HasBbox = true,
            DecodedMask = rle,
        };
    }

    private static DetSharpException NotInGt(string where, long imageId) =>
        new($"{where}: image_id {imageId} is not an image of the ground truth (pycocotools: 'Results do not correspond to current coco set'). Evaluate against the annotation file the results were made for.");
}

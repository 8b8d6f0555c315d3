using DetSharp.Evaluation;
using DetSharp.Structures;

namespace DetSharp.Apis;

/// <summary>
/// MMDetection's <c>CocoDataset._det2json</c> / <c>_segm2json</c> / <c>results2json</c>: per-image results → COCO results
/// entries (bbox as [x, y, w, h], <c>category_id = cat_ids[label]</c>, score; segm entries carry the mask as compressed RLE
/// with the box score), image by image, class by class.
/// </summary>
public static class CocoResultsFormat
{
    public static List<CocoDetection> Det2Json(IReadOnlyList<ImageDetections> results, IReadOnlyList<long> imgIds, IReadOnlyList<long> catIds) =>
        Entries(results, imgIds, catIds, withMasks: false);

    public static List<CocoDetection> Segm2Json(IReadOnlyList<ImageDetections> results, IReadOnlyList<long> imgIds, IReadOnlyList<long> catIds) =>
        Entries(results, imgIds, catIds, withMasks: true);

    /// <summary>
    /// Writes <c>{prefix}.bbox.json</c> and, when the results have masks, <c>{prefix}.segm.json</c>; returns
    /// metric → file (<c>bbox</c>, <c>proposal</c> = the bbox file, <c>segm</c>).
    /// </summary>
    public static Dictionary<string, string> Results2Json(IReadOnlyList<ImageDetections> results, IReadOnlyList<long> imgIds,
        IReadOnlyList<long> catIds, string outfilePrefix)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(outfilePrefix));
        if (dir is not null) Directory.CreateDirectory(dir);
        var files = new Dictionary<string, string>();
        string bbox = outfilePrefix + ".bbox.json";
        CocoResultsWriter.Write(bbox, Det2Json(results, imgIds, catIds));
        files["bbox"] = bbox;
        files["proposal"] = bbox;
        if (results.Any(r => r.Masks is not null))
        {
            string segm = outfilePrefix + ".segm.json";
            CocoResultsWriter.Write(segm, Segm2Json(results, imgIds, catIds));
            files["segm"] = segm;
        }
        return files;
    }

    private static List<CocoDetection> Entries(IReadOnlyList<ImageDetections> results, IReadOnlyList<long> imgIds, IReadOnlyList<long> catIds, bool withMasks)
    {
        if (results.Count != imgIds.Count)
            throw new DetSharpException($"The length of results is not equal to the dataset len: {results.Count} != {imgIds.Count}");
        var list = new List<CocoDetection>();
        for (int idx = 0; idx < results.Count; idx++)
        {
            var r = results[idx];
            if (withMasks && r.Masks is null) continue;
            // bbox2result order: labels ascending, detections in NMS order within a class
            var order = Enumerable.Range(0, r.Count).OrderBy(i => r.Labels[i]).ToArray();
            foreach (int i in order)
            {
                int label = r.Labels[i];
                if (label < 0 || label >= catIds.Count)
                    throw new DetSharpException($"label {label} has no category id: the dataset selects {catIds.Count} categories (check classes vs num_classes).");
                float x1 = r.Bboxes[i * 4], y1 = r.Bboxes[i * 4 + 1], x2 = r.Bboxes[i * 4 + 2], y2 = r.Bboxes[i * 4 + 3];
                // xyxy2xywh in float32 as numpy does, then float()
                var box = new BoxXywh(x1, y1, x2 - x1, y2 - y1);
                list.Add(new CocoDetection(imgIds[idx], catIds[label], box, r.Scores[i], withMasks ? r.Masks![i] : null));
            }
        }
        return list;
    }
}

using DetSharp.Evaluation;
using DetSharp.Structures;

namespace DetSharp.Apis;

/// <summary>
/// MMDetection's <c>CocoDataset._det2json</c> / <c>_segm2json</c> / <c>results2json</c>: per-image results → COCO results
/// entries (bbox as [x, y, w, h], <c>category_id = cat_ids[label]</c>, score; segm entries carry the mask as an RLE with the
/// box score, or with the mask score where the model gives one: Mask Scoring R-CNN's <c>(segm_result, mask_score)</c>), image by image in <c>bbox2result</c> order. <see cref="Results"/> keeps them in memory for the evaluation;
/// <see cref="Results2Json"/> writes them, for <c>--format-only</c> and <c>jsonfile_prefix</c>.
/// <para>Thread safety: stateless; safe from any thread.</para>
/// </summary>
public static class CocoResultsFormat
{
    public static List<CocoDetection> Det2Json(IReadOnlyList<DetectionSet> results, IReadOnlyList<long> imgIds, IReadOnlyList<long> catIds) =>
        Entries(results, imgIds, catIds, withMasks: false);

    public static List<CocoDetection> Segm2Json(IReadOnlyList<DetectionSet> results, IReadOnlyList<long> imgIds, IReadOnlyList<long> catIds) =>
        Entries(results, imgIds, catIds, withMasks: true);

    /// <summary>The entries per metric: <c>bbox</c>, <c>proposal</c> (the bbox entries) and, for mask models, <c>segm</c>.</summary>
    public static Dictionary<string, IReadOnlyList<CocoDetection>> Results(IReadOnlyList<DetectionSet> results, IReadOnlyList<long> imgIds,
        IReadOnlyList<long> catIds)
    {
        var bbox = Det2Json(results, imgIds, catIds);
        var entries = new Dictionary<string, IReadOnlyList<CocoDetection>> { ["bbox"] = bbox, ["proposal"] = bbox };
        if (results.Any(r => r.HasMasks)) entries["segm"] = Segm2Json(results, imgIds, catIds);
        return entries;
    }

    /// <summary>
    /// Writes <c>{prefix}.bbox.json</c> and, when the results have masks, <c>{prefix}.segm.json</c>; returns
    /// metric → file (<c>bbox</c>, <c>proposal</c> = the bbox file, <c>segm</c>).
    /// </summary>
    public static Dictionary<string, string> Results2Json(IReadOnlyList<DetectionSet> results, IReadOnlyList<long> imgIds,
        IReadOnlyList<long> catIds, string outfilePrefix) =>
        WriteJson(Results(results, imgIds, catIds), outfilePrefix);

    /// <summary>Writes entries made by <see cref="Results"/> as <see cref="Results2Json"/> does.</summary>
    public static Dictionary<string, string> WriteJson(IReadOnlyDictionary<string, IReadOnlyList<CocoDetection>> entries, string outfilePrefix)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(outfilePrefix));
        if (dir is not null) Directory.CreateDirectory(dir);
        var files = new Dictionary<string, string>();
        string bbox = outfilePrefix + ".bbox.json";
        CocoResultsWriter.Write(bbox, entries["bbox"]);
        files["bbox"] = bbox;
        files["proposal"] = bbox;
        if (entries.TryGetValue("segm", out var segmEntries))
        {
            string segm = outfilePrefix + ".segm.json";
            CocoResultsWriter.Write(segm, segmEntries);
            files["segm"] = segm;
        }
        return files;
    }

    private static List<CocoDetection> Entries(IReadOnlyList<DetectionSet> results, IReadOnlyList<long> imgIds, IReadOnlyList<long> catIds, bool withMasks)
    {
        if (results.Count != imgIds.Count)
            throw new DetSharpException($"The length of results is not equal to the dataset len: {results.Count} != {imgIds.Count}");
        var list = new List<CocoDetection>();
        for (int idx = 0; idx < results.Count; idx++)
        {
            var r = results[idx];
            if (withMasks && !r.HasMasks) continue;
            foreach (var d in r.InClassOrder())
            {
                if (d.Label < 0 || d.Label >= catIds.Count)
                    throw new DetSharpException($"label {d.Label} has no category id: the dataset selects {catIds.Count} categories (check classes vs num_classes).");
                // xyxy2xywh in float32 as numpy does, then float()
                var box = new BoxXywh(d.X1, d.Y1, d.X2 - d.X1, d.Y2 - d.Y1);
                // _segm2json: `if isinstance(seg, tuple): mask_score = seg[1]` replaces the box score of the segm entries
                float score = withMasks ? d.MaskScore ?? d.Score : d.Score;
                list.Add(new CocoDetection(imgIds[idx], catIds[d.Label], box, score, withMasks ? d.Mask : null));
            }
        }
        return list;
    }
}

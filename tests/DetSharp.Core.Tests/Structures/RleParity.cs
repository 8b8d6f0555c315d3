using System.Text.Json;
using DetSharp.Core.Tests.Parity;
using DetSharp.Structures;

namespace DetSharp.Core.Tests.Structures;

/// <summary>
/// The items of <c>fixtures/mmdet/rle/{rle_fixtures,pycocotools_rle}.json</c> (pycocotools 2.0.11's mask API on the
/// balloon val polygons and the COCO-mini crowd RLEs), recomputed by DetSharp's RLE code. A fixture is
/// <c>"file: key"</c>; counts strings, areas and boxes must be equal, IoUs agree to the fixture's 6 significant digits.
/// </summary>
public static class RleParity
{
    public const string Family = "rle";
    private const string RleFixtures = "rle_fixtures.json", Pycocotools = "pycocotools_rle.json";

    private static readonly Lazy<JsonElement> BalloonVal = new(() => Shared("datasets", "balloon", "val", "annotation_coco.json"));
    private static readonly Lazy<JsonElement> CocoMiniVal = new(() => Shared("datasets", "coco_mini", "annotations", "instances_val2017.json"));

    private static readonly Dictionary<string, Action<ParityChecks, JsonElement>> Measures = new()
    {
        [$"{RleFixtures}: balloon_val_annotations"] = (c, e) => PolygonRles(c, e, "toBbox"),
        [$"{RleFixtures}: iou_image0"] = (c, e) => Iou(c, e, BalloonVal.Value),
        [$"{RleFixtures}: iou_image2"] = (c, e) => Iou(c, e, BalloonVal.Value),
        [$"{RleFixtures}: coco_mini_val_crowd"] = (c, e) => CrowdRles(c, e, "toBbox"),
        [$"{RleFixtures}: coco_mini_val_mixed_crowd_iou"] = (c, e) => Iou(c, e, CocoMiniVal.Value),
        [$"{RleFixtures}: decode_check"] = DecodeCheck,
        [$"{Pycocotools}: balloon_val_polygon_rles"] = (c, e) => PolygonRles(c, e, "bbox"),
        [$"{Pycocotools}: iou_image0_first10"] = (c, e) => Image0Iou(c, e, crowd: false, boxes: false),
        [$"{Pycocotools}: iou_image0_first10_all_crowd"] = (c, e) => Image0Iou(c, e, crowd: true, boxes: false),
        [$"{Pycocotools}: bbox_iou_image0_first10"] = (c, e) => Image0Iou(c, e, crowd: false, boxes: true),
        [$"{Pycocotools}: coco_mini_val_crowd"] = (c, e) => CrowdRles(c, e, "bbox"),
        [$"{Pycocotools}: decode_row_sums_first50"] = Image0RowSums,
        [$"{Pycocotools}: bbox_to_rle"] = BoxToRle,
    };

    public static IReadOnlyList<string> Fixtures { get; } = [.. Measures.Keys];

    public static IReadOnlyList<ParityRow> Measure(string fixture)
    {
        var (file, key) = (fixture[..fixture.IndexOf(':')], fixture[(fixture.IndexOf(':') + 2)..]);
        using var doc = SharedData.LoadJson("fixtures", "mmdet", "rle", file);
        var checks = new ParityChecks(Family, fixture);
        Measures[fixture](checks, doc.RootElement.GetProperty(key));
        return checks.Rows;
    }

    private static JsonElement Shared(params string[] parts)
    {
        using var doc = SharedData.LoadJson(parts);
        return doc.RootElement.Clone();
    }

    private static Dictionary<long, JsonElement> AnnotationsById(JsonElement dataset) =>
        dataset.GetProperty("annotations").EnumerateArray().ToDictionary(a => a.GetProperty("id").GetInt64());

    private static (int H, int W) ImageSize(JsonElement dataset, long imageId)
    {
        var image = dataset.GetProperty("images").EnumerateArray().First(i => i.GetProperty("id").GetInt64() == imageId);
        return (image.GetProperty("height").GetInt32(), image.GetProperty("width").GetInt32());
    }

    /// <summary>Every balloon val annotation in JSON order: <c>frPyObjects</c> of its polygons at the image size, merged.</summary>
    public static IReadOnlyList<(long AnnId, Rle Rle)> BalloonValRles() =>
        BalloonVal.Value.GetProperty("annotations").EnumerateArray().Select(a =>
        {
            var (h, w) = ImageSize(BalloonVal.Value, a.GetProperty("image_id").GetInt64());
            return (a.GetProperty("id").GetInt64(), Rle.Merge(RleConvert.FrPyObjects(a.GetProperty("segmentation"), h, w).ToArray()));
        }).ToList();

    private static double[] Flat(JsonElement e) => e.ValueKind == JsonValueKind.Array ? e.EnumerateArray().SelectMany(Flat).ToArray() : [e.GetDouble()];

    private static double[] Box(BoxXywh b) => [b.X, b.Y, b.W, b.H];

    private static void PolygonRles(ParityChecks checks, JsonElement expected, string bboxKey)
    {
        var ours = BalloonValRles();
        var entries = expected.EnumerateArray().ToList();
        var rles = ours.Take(entries.Count).Select(o => o.Rle).ToList();
        var exact = new ExactFields()
            .AddValue("annotations", entries.Count, ours.Count)
            .Add("ann_id", entries.Select(e => e.GetProperty("ann_id").GetInt64()), ours.Select(o => o.AnnId))
            .Add("size", entries.Select(e => e.TryGetProperty("size", out var s) ? (s[0].GetInt32(), s[1].GetInt32()) : (e.GetProperty("h").GetInt32(), e.GetProperty("w").GetInt32())),
                rles.Select(r => (r.Height, r.Width)));
        checks.Exact("count, ids, sizes", exact);
        checks.Same("counts strings", entries.Select(e => e.GetProperty("counts").GetString()), rles.Select(r => r.ToCompressedString()));
        checks.Values("area", entries.Select(e => e.GetProperty("area").GetDouble()).ToArray(), rles.Select(r => (double)r.Area()).ToArray(), Tolerance.Exact);
        checks.Values(bboxKey, entries.SelectMany(e => Flat(e.GetProperty(bboxKey))).ToArray(), rles.SelectMany(r => Box(r.ToBbox())).ToArray(), Tolerance.Exact);
    }

    private static void CrowdRles(ParityChecks checks, JsonElement expected, string bboxKey)
    {
        var anns = AnnotationsById(CocoMiniVal.Value);
        var entries = expected.EnumerateArray().ToList();
        // Uncompressed RLEs carry their own size: frPyObjects ignores the image size for them.
        var rles = entries.Select(e => RleConvert.FrPyObjects(anns[e.GetProperty("ann_id").GetInt64()].GetProperty("segmentation"), 0, 0)[0]).ToList();
        checks.Values("uncompressed runs", entries.Select(e => e.GetProperty("uncompressed_counts_len").GetDouble()).ToArray(), rles.Select(r => (double)r.Counts.Length).ToArray(), Tolerance.Exact);
        checks.Same("counts strings", entries.Select(e => e.GetProperty("counts").GetString()), rles.Select(r => r.ToCompressedString()));
        checks.Values("area", entries.Select(e => e.GetProperty("area").GetDouble()).ToArray(), rles.Select(r => (double)r.Area()).ToArray(), Tolerance.Exact);
        checks.Values(bboxKey, entries.SelectMany(e => Flat(e.GetProperty(bboxKey))).ToArray(), rles.SelectMany(r => Box(r.ToBbox())).ToArray(), Tolerance.Exact);
    }

    /// <summary>The fixture's IoUs carry 6 significant digits.</summary>
    private static void IouValues(ParityChecks checks, string metric, JsonElement expected, double[,] actual)
    {
        var e = Flat(expected);
        checks.Values(metric, e, actual.Cast<double>().ToArray(), Tolerance.Relative(5e-6), i => Math.Max(Math.Abs(e[i]), 1e-300));
    }

    private static void Iou(ParityChecks checks, JsonElement fixture, JsonElement dataset)
    {
        var (h, w) = ImageSize(dataset, fixture.GetProperty("image_id").GetInt64());
        var anns = AnnotationsById(dataset);
        var ids = fixture.GetProperty("ann_ids").EnumerateArray().Select(x => x.GetInt64()).ToArray();
        var crowd = fixture.GetProperty("iscrowd").EnumerateArray().Select(x => x.GetInt32() != 0).ToArray();
        var rles = ids.Select(id => CocoSegmentation.Parse(anns[id].GetProperty("segmentation"), "test").ToRle(h, w)).ToArray();
        var boxes = ids.Select(id => BoxXywh.FromSpan(anns[id].GetProperty("bbox").EnumerateArray().Select(v => v.GetDouble()).ToArray())).ToArray();
        if (fixture.TryGetProperty("areas", out var areas))
            checks.Values("areas", Flat(areas), rles.Select(r => (double)r.Area()).ToArray(), Tolerance.Exact);
        IouValues(checks, "segm_iou", fixture.GetProperty("segm_iou"), MaskIou.RleIou(rles, rles, crowd));
        IouValues(checks, "bbox_iou", fixture.GetProperty("bbox_iou"), MaskIou.BoxIou(boxes, boxes, crowd));
    }

    private static long[] Image0AnnIds() =>
        Shared("fixtures", "mmdet", "rle", Pycocotools).GetProperty("image0").GetProperty("ann_ids").EnumerateArray().Select(v => v.GetInt64()).ToArray();

    private static Rle[] Image0Rles(long[] ids)
    {
        var byId = BalloonValRles().ToDictionary(r => r.AnnId, r => r.Rle);
        return ids.Select(id => byId[id]).ToArray();
    }

    private static void Image0Iou(ParityChecks checks, JsonElement expected, bool crowd, bool boxes)
    {
        var anns = AnnotationsById(BalloonVal.Value);
        var ids = Image0AnnIds();
        var rles = Image0Rles(ids);
        var flags = ids.Select(_ => crowd).ToArray();
        var bboxes = ids.Select(id => BoxXywh.FromSpan(Flat(anns[id].GetProperty("bbox")))).ToArray();
        var iou = boxes ? MaskIou.BoxIou(bboxes, bboxes, flags) : MaskIou.RleIou(rles, rles, flags);
        IouValues(checks, boxes ? "bbox iou" : crowd ? "segm iou, all crowd" : "segm iou", expected, iou);
    }

    private static double[] RowSums(byte[] mask, int width, int firstRow, int rows)
    {
        var sums = new double[rows];
        for (int r = 0; r < rows; r++)
            for (int x = 0; x < width; x++) sums[r] += mask[(firstRow + r) * width + x];
        return sums;
    }

    /// <summary>The masks of <c>decode_check</c>: the balloon val or COCO-mini annotation each entry names, at its size.</summary>
    public static IReadOnlyList<Rle> DecodeCheckRles()
    {
        using var doc = SharedData.LoadJson("fixtures", "mmdet", "rle", RleFixtures);
        var all = AnnotationsById(BalloonVal.Value).Concat(AnnotationsById(CocoMiniVal.Value)).ToDictionary();
        return doc.RootElement.GetProperty("decode_check").EnumerateArray().Select(e =>
        {
            int h = e.GetProperty("size")[0].GetInt32(), w = e.GetProperty("size")[1].GetInt32();
            return CocoSegmentation.Parse(all[e.GetProperty("ann_id").GetInt64()].GetProperty("segmentation"), "test").ToRle(h, w);
        }).ToList();
    }

    private static void DecodeCheck(ParityChecks checks, JsonElement expected)
    {
        var entries = expected.EnumerateArray().ToList();
        var rles = DecodeCheckRles();
        var (e, a) = (new List<double>(), new List<double>());
        var (eTotal, aTotal, eTop, aTop) = (new List<double>(), new List<double>(), new List<double>(), new List<double>());
        foreach (var (entry, rle) in entries.Zip(rles))
        {
            var mask = rle.Decode();
            eTotal.Add(entry.GetProperty("total_foreground").GetDouble());
            aTotal.Add(mask.Sum(b => (double)b));
            e.AddRange(Flat(entry.GetProperty("fg_per_row_first50")));
            a.AddRange(RowSums(mask, rle.Width, 0, 50));
            if (entry.TryGetProperty("fg_per_row_from_bbox_top_50", out var fromTop))
            {
                int top = entry.GetProperty("bbox_top_row").GetInt32();
                eTop.Add(top);
                aTop.Add((int)rle.ToBbox().Y);
                e.AddRange(Flat(fromTop));
                a.AddRange(RowSums(mask, rle.Width, top, 50));
            }
        }
        checks.Values("total foreground", eTotal, aTotal, Tolerance.Exact);
        checks.Values("foreground per row", e, a, Tolerance.Exact);
        checks.Values("bbox top row", eTop, aTop, Tolerance.Exact);
    }

    private static void Image0RowSums(ParityChecks checks, JsonElement expected)
    {
        var ids = Image0AnnIds();
        var rows = Image0Rles(ids).SelectMany(r => RowSums(r.Decode(), r.Width, 0, 50));
        checks.Values("foreground per row", Flat(expected), rows.ToArray(), Tolerance.Exact);
    }

    /// <summary><c>frPyObjects</c> of the fixture's <c>[x, y, w, h]</c> box on its image size.</summary>
    public static Rle BoxToRle()
    {
        using var doc = SharedData.LoadJson("fixtures", "mmdet", "rle", Pycocotools);
        var e = doc.RootElement.GetProperty("bbox_to_rle");
        using var box = JsonDocument.Parse($"[{e.GetProperty("bbox").GetRawText()}]");
        return RleConvert.FrPyObjects(box.RootElement, e.GetProperty("h").GetInt32(), e.GetProperty("w").GetInt32())[0];
    }

    private static void BoxToRle(ParityChecks checks, JsonElement expected)
    {
        var rle = BoxToRle();
        checks.Same("counts string", [expected.GetProperty("counts").GetString()], [rle.ToCompressedString()]);
        checks.Values("area", [expected.GetProperty("area").GetDouble()], [(double)rle.Area()], Tolerance.Exact);
    }
}

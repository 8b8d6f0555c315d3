using System.Text.Json;
using DetSharp.Config;
using DetSharp.Evaluation;
using DetSharp.Registry;
using DetSharp.Structures;

namespace DetSharp.Datasets;

/// <summary>
/// MMDetection 2.x <c>CocoDataset</c>: <c>cat_ids</c> are the ids of the JSON categories whose names are in
/// <c>classes</c>, in the JSON's order; <c>cat2label</c> maps them to 0..K−1. Per image, annotations flagged
/// <c>ignore</c>, outside the image, with area ≤ 0 or w/h &lt; 1, or of an unselected category are skipped (and
/// counted in <see cref="CustomDataset.Warnings"/>); crowd ones become ignore boxes. Training drops images without a
/// selected annotation (<c>filter_empty_gt</c>) and images with a side under 32 px.
/// </summary>
[Register(Registries.DatasetsName, "CocoDataset")]
public class CocoDataset : CustomDataset
{
    public static readonly IReadOnlyList<string> CocoClasses =
    [
        "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light", "fire hydrant",
        "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra",
        "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
        "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle", "wine glass", "cup", "fork",
        "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut",
        "cake", "chair", "couch", "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote",
        "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
        "teddy bear", "hair drier", "toothbrush",
    ];

    private List<List<CocoAnnotation>> _annotationsPerImage = [];
    private Dictionary<long, int> _cat2label = [];

    public CocoDataset(string annFile, IReadOnlyList<ConfigDict>? pipeline = null, object? classes = null, string? dataRoot = null,
        string? imgPrefix = "", string? segPrefix = null, string segSuffix = ".png", string? proposalFile = null,
        bool testMode = false, bool filterEmptyGt = true, ConfigDict? fileClientArgs = null)
        : base(annFile, pipeline, classes, dataRoot, imgPrefix, segPrefix, proposalFile, testMode, filterEmptyGt)
    {
        IO.FileClientArgs.Check(fileClientArgs, GetType().Name);
        SegSuffix = segSuffix;
        Initialize();
    }

    public string SegSuffix { get; }

    protected override IReadOnlyList<string> DefaultClasses => CocoClasses;

    /// <summary>pycocotools' COCO object of the annotation file.</summary>
    public CocoApi Coco { get; private set; } = null!;

    /// <summary>Selected category ids in JSON order; label i ↔ <c>CatIds[i]</c>.</summary>
    public IReadOnlyList<long> CatIds { get; private set; } = [];

    public IReadOnlyDictionary<long, int> Cat2Label => _cat2label;

    /// <summary>The image ids of <see cref="CustomDataset.DataInfos"/>, in order.</summary>
    public IReadOnlyList<long> ImgIds { get; private set; } = [];

    protected override List<CocoImage> LoadAnnotations(string annFile)
    {
        if (!File.Exists(annFile))
            throw new DetSharpException($"{annFile}: annotation file not found (ann_file joined with data_root '{DataRoot}'). Check ann_file and data_root.");
        using (var doc = JsonFiles.Parse(annFile))
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("images", out _) || !root.TryGetProperty("categories", out _))
                throw new DetSharpException(
                    $"{annFile}: not a COCO annotation file: it needs top-level 'images', 'annotations' and 'categories' lists. " +
                    "VIA, labelme or Cityscapes annotations must be converted first (detsharp convert ...).");
            Coco = CocoApi.FromJson(root, annFile);
        }

        var selected = new HashSet<string>(Classes, StringComparer.Ordinal);
        var catIds = new List<long>();
        var knownCats = new HashSet<long>();
        foreach (var cat in Coco.Categories)
        {
            knownCats.Add(cat.Id);
            if (selected.Contains(cat.Name)) catIds.Add(cat.Id);
        }
        CatIds = catIds;
        _cat2label = new Dictionary<long, int>();
        for (int i = 0; i < catIds.Count; i++) _cat2label.TryAdd(catIds[i], i);
        if (catIds.Count == 0)
            throw new DetSharpException(
                $"{annFile}: none of the {Classes.Count} class names ({Preview(Classes)}) is a category name in the file " +
                $"({Preview(Coco.Categories.Select(c => c.Name).ToList())}); classes must match categories[].name exactly.");

        var imageIndex = new Dictionary<long, int>();
        var infos = new List<CocoImage>();
        for (int i = 0; i < Coco.Images.Count; i++)
        {
            var img = Coco.Images[i];
            if (!imageIndex.TryAdd(img.Id, infos.Count))
                throw new DetSharpException($"{annFile}: images[{i}] repeats image id {img.Id}; image ids must be unique.");
            if (string.IsNullOrEmpty(img.FileName))
                throw new DetSharpException($"{annFile}: images[{i}] (id {img.Id}) has no 'file_name'.");
            infos.Add(img);
        }

        var perImage = new List<List<CocoAnnotation>>(infos.Count);
        for (int i = 0; i < infos.Count; i++) perImage.Add([]);
        var annIds = new Dictionary<long, int>();
        int unknownImage = 0, unknownCat = 0;
        string? firstUnknownImage = null, firstUnknownCat = null;
        for (int i = 0; i < Coco.Annotations.Count; i++)
        {
            var ann = Coco.Annotations[i];
            if (!imageIndex.TryGetValue(ann.ImageId, out int imgIdx))
            {
                unknownImage++;
                firstUnknownImage ??= $"annotations[{i}] (id {ann.Id}) has image_id {ann.ImageId}";
                continue;
            }
            if (!annIds.TryAdd(ann.Id, i))
                throw new DetSharpException(
                    $"{annFile}: annotation ids are not unique: annotations[{annIds[ann.Id]}] and annotations[{i}] both have id {ann.Id}. " +
                    "Renumber the annotations (ids from 1).");
            if (!knownCats.Contains(ann.CategoryId))
            {
                unknownCat++;
                firstUnknownCat ??= $"annotations[{i}] (id {ann.Id}) has category_id {ann.CategoryId}";
            }
            perImage[imgIdx].Add(ann);
        }
        if (unknownImage > 0)
            AddWarning($"{annFile}: {unknownImage} annotations refer to image ids that are not in 'images' and are ignored (first: {firstUnknownImage}).");
        if (unknownCat > 0)
            AddWarning($"{annFile}: {unknownCat} annotations have a category_id that is not in 'categories' and are skipped (first: {firstUnknownCat}).");
        _annotationsPerImage = perImage;
        ImgIds = infos.Select(x => x.Id).ToList();
        CountSkipped(infos, perImage);
        return infos;
    }

    private void CountSkipped(List<CocoImage> infos, List<List<CocoAnnotation>> perImage)
    {
        int badBox = 0, badPolygon = 0;
        string? firstBadBox = null, firstBadPolygon = null;
        for (int i = 0; i < infos.Count; i++)
        {
            foreach (var ann in perImage[i])
            {
                if (!ann.HasBbox || ann.Bbox.W < 1 || ann.Bbox.H < 1 || !(ann.Area > 0))
                {
                    badBox++;
                    firstBadBox ??= $"annotation id {ann.Id} of image {infos[i].Id} '{infos[i].FileName}': bbox " +
                        (ann.HasBbox ? $"[{ann.Bbox.X}, {ann.Bbox.Y}, {ann.Bbox.W}, {ann.Bbox.H}]" : "missing") + $", area {ann.Area}";
                }
                if (ann.Segmentation is PolygonSegmentation poly)
                {
                    for (int p = 0; p < poly.Polygons.Length; p++)
                    {
                        int len = poly.Polygons[p].Length;
                        if (len >= 6 && len % 2 == 0) continue;
                        badPolygon++;
                        firstBadPolygon ??= $"annotation id {ann.Id} of image {infos[i].Id} '{infos[i].FileName}': polygon {p} has {len} numbers";
                    }
                }
            }
        }
        if (badBox > 0)
            AddWarning($"{AnnFile}: {badBox} annotations with a box under 1 px, a missing box or area <= 0 are skipped, as MMDetection does (first: {firstBadBox}).");
        if (badPolygon > 0)
            AddWarning($"{AnnFile}: {badPolygon} polygons have fewer than 3 points or an odd number of coordinates (first: {firstBadPolygon}); " +
                "LoadAnnotations(poly2mask=False) drops them and poly2mask=True stops on them.");
    }

    private static string Preview(IReadOnlyList<string> names) =>
        string.Join(", ", names.Take(5).Select(n => $"'{n}'")) + (names.Count > 5 ? $", ... {names.Count} in all" : "");

    protected override List<int> FilterImages(IReadOnlyList<CocoImage> infos, int minSize)
    {
        var valid = new List<int>();
        for (int i = 0; i < infos.Count; i++)
        {
            if (FilterEmptyGt && !HasSelectedAnnotation(i)) continue;
            if (ExtraFilter(i)) continue;
            if (Math.Min(infos[i].Width, infos[i].Height) >= minSize) valid.Add(i);
        }
        return valid;
    }

    /// <summary>Whether image i has at least one annotation (crowd included) of a selected category (<c>ids_in_cat</c>).</summary>
    private bool HasSelectedAnnotation(int i)
    {
        foreach (var ann in _annotationsPerImage[i])
            if (_cat2label.ContainsKey(ann.CategoryId)) return true;
        return false;
    }

    /// <summary>A further training filter of derived datasets (Cityscapes: all annotations crowd).</summary>
    protected virtual bool ExtraFilter(int loadedIndex) => false;

    /// <summary>The annotations of loaded record i (before filtering).</summary>
    protected IReadOnlyList<CocoAnnotation> LoadedAnnotations(int loadedIndex) => _annotationsPerImage[loadedIndex];

    protected override void OnFiltered(IReadOnlyList<int> keptIndices)
    {
        var kept = new List<List<CocoAnnotation>>(keptIndices.Count);
        var ids = new List<long>(keptIndices.Count);
        foreach (int i in keptIndices)
        {
            kept.Add(_annotationsPerImage[i]);
            ids.Add(ImgIds[i]);
        }
        _annotationsPerImage = kept;
        ImgIds = ids;
    }

    /// <summary>The annotations of image <paramref name="index"/> as in the file (<c>coco.load_anns(get_ann_ids(img_id))</c>).</summary>
    public IReadOnlyList<CocoAnnotation> RawAnnotations(int index) => _annotationsPerImage[index];

    public override IReadOnlyList<long> GetCatIds(int index)
    {
        var anns = _annotationsPerImage[index];
        var ids = new long[anns.Count];
        for (int i = 0; i < anns.Count; i++) ids[i] = anns[i].CategoryId;
        return ids;
    }

    public override AnnInfo GetAnnInfo(int index) => ParseAnnInfo(DataInfos[index], _annotationsPerImage[index]);

    /// <summary>Whether a box must overlap the image to be kept (Cityscapes does not check).</summary>
    protected virtual bool RequireOverlap => true;

    protected virtual string? SegMapOf(CocoImage info)
    {
        string name = info.FileName!;
        int dot = name.LastIndexOf('.');
        return (dot < 0 ? name : name[..dot]) + SegSuffix;
    }

    private AnnInfo ParseAnnInfo(CocoImage info, List<CocoAnnotation> anns)
    {
        var boxes = new List<float>();
        var labels = new List<long>();
        var ignore = new List<float>();
        var masks = new List<CocoSegmentation?>();
        var ids = new List<long>();
        var extras = new List<IReadOnlyDictionary<string, JsonElement>>();
        foreach (var ann in anns)
        {
            if (ann.Extra.TryGetValue("ignore", out var ig) && JsonFiles.Truthy(ig)) continue;
            if (!ann.HasBbox) continue;
            double x1 = ann.Bbox.X, y1 = ann.Bbox.Y, w = ann.Bbox.W, h = ann.Bbox.H;
            if (RequireOverlap)
            {
                double interW = Math.Max(0, Math.Min(x1 + w, info.Width) - Math.Max(x1, 0));
                double interH = Math.Max(0, Math.Min(y1 + h, info.Height) - Math.Max(y1, 0));
                if (interW * interH == 0) continue;
            }
            if (!(ann.Area > 0) || w < 1 || h < 1) continue;
            if (!_cat2label.TryGetValue(ann.CategoryId, out int label)) continue;
            float bx1 = (float)x1, by1 = (float)y1, bx2 = (float)(x1 + w), by2 = (float)(y1 + h);
            if (ann.IsCrowd)
            {
                ignore.Add(bx1); ignore.Add(by1); ignore.Add(bx2); ignore.Add(by2);
            }
            else
            {
                boxes.Add(bx1); boxes.Add(by1); boxes.Add(bx2); boxes.Add(by2);
                labels.Add(label);
                masks.Add(ann.Segmentation);
                ids.Add(ann.Id);
                extras.Add(ann.Extra);
            }
        }
        return new AnnInfo
        {
            Bboxes = boxes.ToArray(),
            Labels = labels.ToArray(),
            BboxesIgnore = ignore.ToArray(),
            Masks = masks.ToArray(),
            SegMap = SegMapOf(info),
            AnnotationIds = ids.ToArray(),
            Extras = extras,
        };
    }
}

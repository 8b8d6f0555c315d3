using System.Text.Json;
using DetSharp.Structures;

namespace DetSharp.Evaluation;

/// <summary>One <c>images[]</c> record.</summary>
public sealed record CocoImage(long Id, int Width, int Height, string? FileName)
{
    /// <summary>The record's other keys (e.g. Cityscapes' <c>segm_file</c>), as in the JSON.</summary>
    public IReadOnlyDictionary<string, JsonElement> Extra { get; init; } = CocoAnnotation.NoExtra;
}

/// <summary>One <c>categories[]</c> record.</summary>
public sealed record CocoCategory(long Id, string Name);

/// <summary>
/// One annotation (ground truth) or detection (result). Keys other than the COCO ones (e.g. <c>occ</c>, <c>truncate</c>,
/// <c>direct</c>, <c>ignore</c>) are kept in <see cref="Extra"/>.
/// For detections <see cref="Id"/> is 1..N in file order, <see cref="Score"/> is set and <see cref="IsCrowd"/> is false.
/// </summary>
public sealed record CocoAnnotation
{
    public long Id { get; init; }
    public long ImageId { get; init; }
    public long CategoryId { get; init; }
    public BoxXywh Bbox { get; init; }
    public bool HasBbox { get; init; }
    public double Area { get; init; }
    public bool IsCrowd { get; init; }
    public CocoSegmentation? Segmentation { get; init; }
    public double Score { get; init; }

    /// <summary>The decoded mask of a result, kept from <see cref="CocoResults"/> so evaluation does not decode it again.</summary>
    internal Rle? DecodedMask { get; init; }

    /// <summary>The annotation's keys that are not COCO ones, in file order.</summary>
    public IReadOnlyDictionary<string, JsonElement> Extra { get; init; } = NoExtra;

    internal static readonly IReadOnlyDictionary<string, JsonElement> NoExtra = new Dictionary<string, JsonElement>();
}

/// <summary>pycocotools' <c>COCO</c> object: a COCO-format ground truth, or a results set bound to one (<see cref="CocoResults"/>).</summary>
public sealed class CocoApi
{
    public CocoApi(IReadOnlyList<CocoImage> images, IReadOnlyList<CocoCategory> categories, IReadOnlyList<CocoAnnotation> annotations)
    {
        Images = images;
        Categories = categories;
        Annotations = annotations;
        var byId = new Dictionary<long, CocoImage>(images.Count);
        foreach (var image in images) byId[image.Id] = image;
        ImagesById = byId;
    }

    public IReadOnlyList<CocoImage> Images { get; }
    public IReadOnlyList<CocoCategory> Categories { get; }
    public IReadOnlyList<CocoAnnotation> Annotations { get; }
    public IReadOnlyDictionary<long, CocoImage> ImagesById { get; }

    /// <summary>Loads a COCO annotation file (<c>images</c>, <c>annotations</c>, <c>categories</c>; <c>info</c>, <c>licenses</c> and extra keys ignored).</summary>
    public static CocoApi Load(string path)
    {
        using var doc = JsonFiles.Parse(path);
        return FromJson(doc.RootElement, path);
    }

    /// <summary>Reads a parsed COCO annotation document; <paramref name="source"/> names it in error messages.</summary>
    public static CocoApi FromJson(JsonElement root, string source)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw new DetSharpException($"{source}: a COCO annotation file is a JSON object with 'images', 'annotations' and 'categories'.");
        var images = new List<CocoImage>();
        foreach (var (item, i) in JsonFiles.Array(root, "images", source))
        {
            string where = $"{source}: images[{i}]";
            images.Add(new CocoImage(JsonFiles.Id(item, "id", where), (int)JsonFiles.Int(item, "width", where),
                (int)JsonFiles.Int(item, "height", where),
                item.TryGetProperty("file_name", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString() : null)
            {
                Extra = ExtraKeys(item, ImageKeys),
            });
        }
        var categories = new List<CocoCategory>();
        if (root.TryGetProperty("categories", out _))
        {
            foreach (var (item, i) in JsonFiles.Array(root, "categories", source))
            {
                string where = $"{source}: categories[{i}]";
                string name = item.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : "";
                categories.Add(new CocoCategory(JsonFiles.Id(item, "id", where), name));
            }
        }
        var annotations = new List<CocoAnnotation>();
        if (root.TryGetProperty("annotations", out _))
        {
            var fileNames = new Dictionary<long, string?>();
            foreach (var image in images) fileNames.TryAdd(image.Id, image.FileName);
            foreach (var (item, i) in JsonFiles.Array(root, "annotations", source))
            {
                string where = $"{source}: annotations[{i}]";
                if (item.ValueKind != JsonValueKind.Object) throw new DetSharpException($"{where} is not an object.");
                long id = JsonFiles.Id(item, "id", where);
                long imageId = JsonFiles.Id(item, "image_id", where);
                // Named as the user finds it: the record, its id and its image's file.
                where = $"{where} (id {id}, image_id {imageId}{(fileNames.GetValueOrDefault(imageId) is { } file ? $" '{file}'" : "")})";
                // A present but malformed bbox is an error now, when the dataset loads — not "missing" after a whole epoch.
                bool hasBbox = item.TryGetProperty("bbox", out var bb) && bb.ValueKind != JsonValueKind.Null;
                var segmentation = item.TryGetProperty("segmentation", out var seg) && seg.ValueKind is JsonValueKind.Array or JsonValueKind.Object
                    ? CocoSegmentation.Parse(seg, where) : null;
                segmentation?.Validate(where);
                annotations.Add(new CocoAnnotation
                {
                    Id = id,
                    ImageId = imageId,
                    CategoryId = JsonFiles.Id(item, "category_id", where),
                    HasBbox = hasBbox,
                    Bbox = hasBbox ? JsonFiles.Box(bb, where) : default,
                    Area = item.TryGetProperty("area", out var area) && area.ValueKind == JsonValueKind.Number ? area.GetDouble() : double.NaN,
                    IsCrowd = item.TryGetProperty("iscrowd", out var crowd) && JsonFiles.Truthy(crowd),
                    Segmentation = segmentation,
                    Extra = ExtraKeys(item, AnnotationKeys),
                });
            }
        }
        return new CocoApi(images, categories, annotations);
    }

    private static readonly HashSet<string> ImageKeys = ["id", "width", "height", "file_name"];
    private static readonly HashSet<string> AnnotationKeys = ["id", "image_id", "category_id", "bbox", "area", "iscrowd", "segmentation", "score"];

    private static IReadOnlyDictionary<string, JsonElement> ExtraKeys(JsonElement item, HashSet<string> known)
    {
        Dictionary<string, JsonElement>? extra = null;
        foreach (var property in item.EnumerateObject())
        {
            if (known.Contains(property.Name)) continue;
            extra ??= new Dictionary<string, JsonElement>();
            extra[property.Name] = property.Value.Clone();
        }
        return extra ?? CocoAnnotation.NoExtra;
    }
}

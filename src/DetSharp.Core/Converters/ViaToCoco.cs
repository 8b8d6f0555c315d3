using System.Text.Json;

namespace DetSharp.Converters;

/// <summary>How <see cref="ViaToCoco"/> computes <c>area</c>.</summary>
public enum AreaMode
{
    /// <summary>bbox w × h, as the MMDetection balloon tutorial.</summary>
    Bbox,

    /// <summary>Shoelace area of the written polygon(s) (the mask area up to rasterisation).</summary>
    Polygon,
}

/// <summary>Options of <c>detsharp convert via2coco</c>.</summary>
public sealed record ViaToCocoOptions
{
    public required string ViaJson { get; init; }
    public required string Output { get; init; }

    /// <summary>Folder with the images (default: the JSON's folder).</summary>
    public string? ImageDir { get; init; }

    /// <summary>Category names in id order; with no <see cref="CategoryAttribute"/> exactly one (default 'balloon').</summary>
    public IReadOnlyList<string>? Classes { get; init; }

    /// <summary>A region attribute that holds each region's category name.</summary>
    public string? CategoryAttribute { get; init; }

    public AreaMode Area { get; init; } = AreaMode.Bbox;
    public long FirstImageId { get; init; }
    public long FirstAnnotationId { get; init; } = 1;
    public long FirstCategoryId { get; init; }
    public int Workers { get; init; } = Environment.ProcessorCount;
}

/// <summary>
/// VIA 1.x / 2.x region annotations to COCO, as MMDetection's balloon tutorial converter: image ids from 0 in JSON
/// order, polygon vertices + 0.5, bbox from the raw vertices, area = bbox w × h (or the polygon area), iscrowd 0, image
/// sizes read from the images. Annotation ids start at 1: pycocotools' COCOeval stores the matched ground-truth id per
/// detection and treats 0 as "unmatched", so an annotation with id 0 can never count as a true positive.
/// </summary>
public static class ViaToCoco
{
    public sealed record Summary(int Images, int Annotations, IReadOnlyList<string> Categories);

    public static Summary Convert(ViaToCocoOptions o)
    {
        string source = o.ViaJson;
        if (!File.Exists(source)) throw new DetSharpException($"{source}: VIA annotation file not found.");
        new IO.ProtectedInputs([source]).Check(o.Output, "--out");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(source)); }
        catch (JsonException e) { throw new DetSharpException($"{source}: not valid JSON (line {e.LineNumber + 1}): {e.Message}", e); }
        using var docScope = doc;
        var root = doc.RootElement;
        if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("_via_img_metadata", out var meta)) root = meta; // VIA 2.x project
        if (root.ValueKind != JsonValueKind.Object)
            throw new DetSharpException($"{source}: not a VIA region file: expected an object of image records keyed by filename+size.");
        if (root.TryGetProperty("images", out _) && root.TryGetProperty("annotations", out _))
            throw new DetSharpException($"{source}: this is already a COCO file, not a VIA region file.");

        string imageDir = o.ImageDir ?? Path.GetDirectoryName(Path.GetFullPath(source))!;
        var classes = new List<string>(o.Classes ?? []);
        if (o.CategoryAttribute is null)
        {
            if (classes.Count == 0) classes.Add("balloon");
            if (classes.Count != 1)
                throw new DetSharpException($"{source}: {classes.Count} classes were given but no --category-attribute says which region is which; give one class or the attribute.");
        }
        bool fixedClasses = classes.Count > 0;
        var problems = new List<string>();
        var records = new List<(string Key, string FileName, List<(double[] X, double[] Y, string Category)> Regions)>();
        foreach (var entry in root.EnumerateObject())
        {
            string where = $"{source}: image record '{entry.Name}'";
            var rec = entry.Value;
            if (rec.ValueKind != JsonValueKind.Object || !rec.TryGetProperty("filename", out var fn) || fn.ValueKind != JsonValueKind.String)
            {
                problems.Add($"{where}: no 'filename' string (is this a VIA region file?)");
                continue;
            }
            var regions = new List<(double[], double[], string)>();
            if (rec.TryGetProperty("regions", out var regs))
            {
                if (regs.ValueKind is not (JsonValueKind.Object or JsonValueKind.Array))
                {
                    // Dropping them would silently lose the image's annotations.
                    problems.Add($"{where}: 'regions' must be a list (VIA 2.x) or a dict (VIA 1.x) of regions, got {regs.ValueKind.ToString().ToLowerInvariant()} {Short(regs.GetRawText())}");
                    continue;
                }
                IEnumerable<(string Name, JsonElement Value)> items = regs.ValueKind == JsonValueKind.Object
                    ? regs.EnumerateObject().Select(p => (p.Name, p.Value))
                    : regs.EnumerateArray().Select((v, i) => (i.ToString(System.Globalization.CultureInfo.InvariantCulture), v));
                foreach (var (name, region) in items)
                {
                    string rw = $"{where}, region {name}";
                    var parsed = ParseRegion(region, rw, o.CategoryAttribute, problems);
                    if (parsed is null) continue;
                    string category = parsed.Value.Category ?? classes[0];
                    if (fixedClasses && !classes.Contains(category))
                    {
                        problems.Add($"{rw}: category '{category}' is not one of the given classes ({string.Join(", ", classes)})");
                        continue;
                    }
                    if (!fixedClasses && !classes.Contains(category)) classes.Add(category);
                    regions.Add((parsed.Value.X, parsed.Value.Y, category));
                }
            }
            records.Add((entry.Name, fn.GetString()!, regions));
        }

        var sizes = new (int Height, int Width)?[records.Count];
        var sizeProblems = new string?[records.Count];
        Parallel.For(0, records.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, o.Workers) }, i =>
        {
            string path = Path.Combine(imageDir, records[i].FileName);
            sizes[i] = ImageSize.TryRead(path, out var problem);
            if (problem is not null) sizeProblems[i] = $"{source}: image record '{records[i].Key}': {path}: {problem}";
        });
        foreach (var p in sizeProblems) if (p is not null) problems.Add(p);
        if (problems.Count > 0) throw new ConversionException(problems);

        var images = new List<CocoImageOut>();
        var anns = new List<CocoAnnotationOut>();
        long annId = o.FirstAnnotationId;
        for (int i = 0; i < records.Count; i++)
        {
            long imageId = o.FirstImageId + i;
            images.Add(new CocoImageOut(imageId, records[i].FileName, sizes[i]!.Value.Height, sizes[i]!.Value.Width));
            foreach (var (px, py, category) in records[i].Regions)
            {
                var poly = new double[px.Length * 2];
                for (int k = 0; k < px.Length; k++) { poly[2 * k] = px[k] + 0.5; poly[2 * k + 1] = py[k] + 0.5; }
                double xMin = px.Min(), yMin = py.Min(), xMax = px.Max(), yMax = py.Max();
                double[] bbox = [xMin, yMin, xMax - xMin, yMax - yMin];
                double area = o.Area == AreaMode.Bbox ? bbox[2] * bbox[3] : CocoJsonWriter.PolygonArea(poly);
                anns.Add(new CocoAnnotationOut(annId++, imageId, o.FirstCategoryId + classes.IndexOf(category), bbox, area, false, [poly]));
            }
        }
        var cats = classes.Select((c, k) => (o.FirstCategoryId + k, c)).ToList();
        AtomicFile.WriteAllBytes(o.Output, CocoJsonWriter.Write(images, anns, cats));
        return new Summary(images.Count, anns.Count, classes);
    }

    private static (double[] X, double[] Y, string? Category)? ParseRegion(JsonElement region, string where, string? attribute, List<string> problems)
    {
        if (region.ValueKind != JsonValueKind.Object || !region.TryGetProperty("shape_attributes", out var shape) || shape.ValueKind != JsonValueKind.Object)
        {
            problems.Add($"{where}: no 'shape_attributes'");
            return null;
        }
        string? category = null;
        if (attribute is not null)
        {
            if (!region.TryGetProperty("region_attributes", out var attrs) || !attrs.TryGetProperty(attribute, out var value))
            {
                problems.Add($"{where}: region_attributes has no '{attribute}' (the --category-attribute)");
                return null;
            }
            category = value.ValueKind switch
            {
                JsonValueKind.String => value.GetString(),
                JsonValueKind.Object => value.EnumerateObject().FirstOrDefault(p => p.Value.ValueKind == JsonValueKind.True).Name,
                _ => value.GetRawText(),
            };
            if (string.IsNullOrEmpty(category))
            {
                problems.Add($"{where}: region attribute '{attribute}' is empty");
                return null;
            }
        }
        string name = shape.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : "";
        switch (name)
        {
            case "polygon":
            case "polyline":
            {
                var x = Numbers(shape, "all_points_x");
                var y = Numbers(shape, "all_points_y");
                if (x is null || y is null)
                {
                    problems.Add($"{where}: polygon needs numeric 'all_points_x' and 'all_points_y' lists");
                    return null;
                }
                if (x.Length != y.Length)
                {
                    problems.Add($"{where}: all_points_x has {x.Length} values but all_points_y has {y.Length}");
                    return null;
                }
                if (x.Length < 3)
                {
                    problems.Add($"{where}: polygon has {x.Length} points; at least 3 are needed");
                    return null;
                }
                if (x.Max() - x.Min() <= 0 || y.Max() - y.Min() <= 0)
                {
                    problems.Add($"{where}: polygon has zero width or height");
                    return null;
                }
                return (x, y, category);
            }
            case "rect":
            {
                double? rx = Num(shape, "x"), ry = Num(shape, "y"), rw = Num(shape, "width"), rh = Num(shape, "height");
                if (rx is null || ry is null || rw is null || rh is null || rw <= 0 || rh <= 0)
                {
                    problems.Add($"{where}: rect needs x, y and positive width, height");
                    return null;
                }
                double x1 = rx.Value, y1 = ry.Value, x2 = x1 + rw.Value, y2 = y1 + rh.Value;
                return ([x1, x2, x2, x1], [y1, y1, y2, y2], category);
            }
            default:
                problems.Add($"{where}: shape '{name}' is not supported (polygon, polyline, rect)");
                return null;
        }
    }

    private static string Short(string text) => text.Length > 40 ? text[..40] + "..." : text;

    private static double? Num(JsonElement e, string key) =>
        e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;

    private static double[]? Numbers(JsonElement e, string key)
    {
        if (!e.TryGetProperty(key, out var v) || v.ValueKind != JsonValueKind.Array) return null;
        var a = new double[v.GetArrayLength()];
        int i = 0;
        foreach (var x in v.EnumerateArray())
        {
            if (x.ValueKind != JsonValueKind.Number) return null;
            a[i++] = x.GetDouble();
        }
        return a;
    }
}

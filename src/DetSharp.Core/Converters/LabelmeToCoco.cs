using System.Text.Json;

namespace DetSharp.Converters;

/// <summary>Options of <c>detsharp convert labelme2coco</c>.</summary>
public sealed record LabelmeToCocoOptions
{
    /// <summary>labelme JSON files, or folders holding them (not recursive).</summary>
    public required IReadOnlyList<string> Inputs { get; init; }
    public required string Output { get; init; }
    /// <summary>Category names in id order (default: in order of first appearance).</summary>
    public IReadOnlyList<string>? Classes { get; init; }
    public AreaMode Area { get; init; } = AreaMode.Polygon;
    public long FirstImageId { get; init; }
    public long FirstAnnotationId { get; init; } = 1;
    public long FirstCategoryId { get; init; } = 1;
}

/// <summary>
/// labelme annotations (one JSON per image) to COCO: polygon and rectangle shapes; shapes sharing a label and a
/// non-null <c>group_id</c> form one object with several polygons; bbox from the vertices; area = polygon area (or bbox
/// w × h); image size from <c>imageHeight</c>/<c>imageWidth</c> (read from the image when absent); <c>file_name</c> =
/// <c>imagePath</c>. Vertices are written as labelme stores them (continuous coordinates, no +0.5). Files are taken in
/// sorted order; annotation ids start at 1 (pycocotools never matches id 0).
/// </summary>
public static class LabelmeToCoco
{
    public sealed record Summary(int Images, int Annotations, IReadOnlyList<string> Categories);

    public static Summary Convert(LabelmeToCocoOptions o)
    {
        var files = new List<string>();
        foreach (var input in o.Inputs)
        {
            if (Directory.Exists(input)) files.AddRange(Directory.GetFiles(input, "*.json").Order(StringComparer.Ordinal));
            else if (File.Exists(input)) files.Add(input);
            else throw new DetSharpException($"{input}: no such labelme JSON file or folder.");
        }
        if (files.Count == 0) throw new DetSharpException($"no labelme JSON files in {string.Join(", ", o.Inputs)}.");
        new IO.ProtectedInputs(files).Check(o.Output, "--out");
        var classes = new List<string>(o.Classes ?? []);
        bool fixedClasses = classes.Count > 0;
        var problems = new List<string>();
        var images = new List<CocoImageOut>();
        var anns = new List<CocoAnnotationOut>();
        long annId = o.FirstAnnotationId;
        foreach (var file in files)
        {
            JsonDocument doc;
            try { doc = JsonDocument.Parse(File.ReadAllBytes(file)); }
            catch (JsonException e)
            {
                problems.Add($"{file}: not valid JSON (line {e.LineNumber + 1}): {e.Message}");
                continue;
            }
            using var docScope = doc;
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("shapes", out var shapes) || shapes.ValueKind != JsonValueKind.Array
                || !root.TryGetProperty("imagePath", out var ip) || ip.ValueKind != JsonValueKind.String)
            {
                problems.Add($"{file}: not a labelme file (needs 'shapes' and 'imagePath')");
                continue;
            }
            string imagePath = ip.GetString()!.Replace('\\', '/');
            int h, w;
            if (root.TryGetProperty("imageHeight", out var hh) && hh.ValueKind == JsonValueKind.Number
                && root.TryGetProperty("imageWidth", out var ww) && ww.ValueKind == JsonValueKind.Number)
            {
                h = hh.GetInt32();
                w = ww.GetInt32();
            }
            else
            {
                string full = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(file))!, imagePath);
                var size = ImageSize.TryRead(full, out var problem);
                if (size is null)
                {
                    problems.Add($"{file}: no imageHeight/imageWidth and {full}: {problem}");
                    continue;
                }
                (h, w) = size.Value;
            }
            long imageId = o.FirstImageId + images.Count;
            images.Add(new CocoImageOut(imageId, imagePath, h, w));
            var objects = new List<(string Label, List<double[]> Polygons)>();
            var groups = new Dictionary<(string, long), int>();
            int s = 0;
            foreach (var shape in shapes.EnumerateArray())
            {
                string where = $"{file}: shapes[{s++}]";
                string label = shape.TryGetProperty("label", out var l) && l.ValueKind == JsonValueKind.String ? l.GetString()! : "";
                if (label.Length == 0) { problems.Add($"{where}: no label"); continue; }
                string type = shape.TryGetProperty("shape_type", out var st) && st.ValueKind == JsonValueKind.String ? st.GetString()! : "polygon";
                var pts = Points(shape);
                if (pts is null) { problems.Add($"{where}: 'points' must be a list of [x, y] pairs"); continue; }
                double[] poly;
                if (type == "polygon")
                {
                    if (pts.Length < 6) { problems.Add($"{where}: polygon has {pts.Length / 2} points; at least 3 are needed"); continue; }
                    poly = pts;
                }
                else if (type == "rectangle")
                {
                    if (pts.Length != 4) { problems.Add($"{where}: rectangle needs 2 points"); continue; }
                    double x1 = Math.Min(pts[0], pts[2]), x2 = Math.Max(pts[0], pts[2]), y1 = Math.Min(pts[1], pts[3]), y2 = Math.Max(pts[1], pts[3]);
                    poly = [x1, y1, x2, y1, x2, y2, x1, y2];
                }
                else { problems.Add($"{where}: shape_type '{type}' is not supported (polygon, rectangle)"); continue; }
                if (fixedClasses && !classes.Contains(label)) { problems.Add($"{where}: label '{label}' is not one of the given classes"); continue; }
                if (!classes.Contains(label)) classes.Add(label);
                if (shape.TryGetProperty("group_id", out var g) && g.ValueKind == JsonValueKind.Number)
                {
                    var key = (label, g.GetInt64());
                    if (groups.TryGetValue(key, out int index)) { objects[index].Polygons.Add(poly); continue; }
                    groups[key] = objects.Count;
                }
                objects.Add((label, [poly]));
            }
            foreach (var (label, polys) in objects)
            {
                double xMin = double.MaxValue, yMin = double.MaxValue, xMax = double.MinValue, yMax = double.MinValue, area = 0;
                foreach (var p in polys)
                {
                    for (int k = 0; k < p.Length; k += 2)
                    {
                        xMin = Math.Min(xMin, p[k]); xMax = Math.Max(xMax, p[k]);
                        yMin = Math.Min(yMin, p[k + 1]); yMax = Math.Max(yMax, p[k + 1]);
                    }
                    area += CocoJsonWriter.PolygonArea(p);
                }
                double[] bbox = [xMin, yMin, xMax - xMin, yMax - yMin];
                if (bbox[2] <= 0 || bbox[3] <= 0) { problems.Add($"{file}: object '{label}' has a zero-size box"); continue; }
                if (o.Area == AreaMode.Bbox) area = bbox[2] * bbox[3];
                anns.Add(new CocoAnnotationOut(annId++, imageId, o.FirstCategoryId + classes.IndexOf(label), bbox, area, false, polys.ToArray()));
            }
        }
        if (problems.Count > 0) throw new ConversionException(problems);
        var cats = classes.Select((c, k) => (o.FirstCategoryId + k, c)).ToList();
        AtomicFile.WriteAllBytes(o.Output, CocoJsonWriter.Write(images, anns, cats));
        return new Summary(images.Count, anns.Count, classes);
    }

    private static double[]? Points(JsonElement shape)
    {
        if (!shape.TryGetProperty("points", out var pts) || pts.ValueKind != JsonValueKind.Array) return null;
        var list = new List<double>();
        foreach (var p in pts.EnumerateArray())
        {
            if (p.ValueKind != JsonValueKind.Array || p.GetArrayLength() != 2 || p[0].ValueKind != JsonValueKind.Number || p[1].ValueKind != JsonValueKind.Number)
                return null;
            list.Add(p[0].GetDouble());
            list.Add(p[1].GetDouble());
        }
        return list.ToArray();
    }
}

using System.Text.Json;

namespace DetSharp.Structures;

/// <summary>
/// pycocotools' <c>mask.frPyObjects</c> for JSON values: a list of boxes (<c>[[x,y,w,h], ...]</c>), a list of polygons,
/// a list of RLE objects, or one box / polygon / RLE object. A list returns one RLE per element; a single object returns one RLE.
/// Compressed RLE objects are also accepted (pycocotools only takes uncompressed ones here).
/// </summary>
public static class RleConvert
{
    public static IReadOnlyList<Rle> FrPyObjects(JsonElement value, int height, int width)
    {
        const string where = "frPyObjects";
        if (value.ValueKind == JsonValueKind.Object)
            return [CocoSegmentation.Parse(value, where).ToRle(height, width)];
        if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() == 0)
            throw new DetSharpException("frPyObjects: input type is not supported (expected boxes, polygons or RLE objects).");
        var first = value[0];
        if (first.ValueKind == JsonValueKind.Object)
        {
            var list = new List<Rle>();
            foreach (var item in value.EnumerateArray()) list.Add(CocoSegmentation.Parse(item, where).ToRle(height, width));
            return list;
        }
        if (first.ValueKind == JsonValueKind.Array)
        {
            var polys = ((PolygonSegmentation)CocoSegmentation.Parse(value, where)).Polygons;
            return FrPolygonsOrBoxes(polys, height, width);
        }
        // a single flat box or polygon
        var flat = ReadNumbers(value);
        if (flat.Length == 4) return [RlePolygon.FromBbox(BoxXywh.FromSpan(flat), height, width)];
        if (flat.Length > 4) return [RlePolygon.FromPolygon(flat, height, width)];
        throw new DetSharpException($"frPyObjects: a single list of {flat.Length} numbers is neither a box (4) nor a polygon (>4).");
    }

    /// <summary>Boxes <c>[x, y, w, h]</c> to RLEs (<c>frBbox</c>).</summary>
    public static Rle[] FrBbox(ReadOnlySpan<BoxXywh> boxes, int height, int width)
    {
        var result = new Rle[boxes.Length];
        for (int i = 0; i < boxes.Length; i++) result[i] = RlePolygon.FromBbox(boxes[i], height, width);
        return result;
    }

    /// <summary>Polygons to RLEs (<c>frPoly</c>), one per polygon, not merged.</summary>
    public static Rle[] FrPoly(IReadOnlyList<double[]> polygons, int height, int width)
    {
        var result = new Rle[polygons.Count];
        for (int i = 0; i < polygons.Count; i++) result[i] = RlePolygon.FromPolygon(polygons[i], height, width);
        return result;
    }

    /// <summary>pycocotools' list dispatch: if the first element has exactly 4 numbers all are boxes, if more, polygons.</summary>
    internal static Rle[] FrPolygonsOrBoxes(double[][] lists, int height, int width)
    {
        int firstLength = lists[0].Length;
        if (firstLength == 4)
        {
            var boxes = new BoxXywh[lists.Length];
            for (int i = 0; i < lists.Length; i++)
            {
                if (lists[i].Length != 4)
                    throw new DetSharpException($"frPyObjects: the first element has 4 numbers, so all are read as boxes, but element {i} has {lists[i].Length}.");
                boxes[i] = BoxXywh.FromSpan(lists[i]);
            }
            return FrBbox(boxes, height, width);
        }
        if (firstLength < 4)
            throw new DetSharpException($"frPyObjects: a polygon needs at least 3 points (6 numbers); the first one has {firstLength} numbers.");
        return FrPoly(lists, height, width);
    }

    private static double[] ReadNumbers(JsonElement array)
    {
        var values = new double[array.GetArrayLength()];
        int i = 0;
        foreach (var v in array.EnumerateArray())
        {
            if (v.ValueKind != JsonValueKind.Number) throw new DetSharpException("frPyObjects: expected numbers.");
            values[i++] = v.GetDouble();
        }
        return values;
    }
}

using System.Text.Json;

namespace DetSharp.Structures;

/// <summary>
/// A COCO <c>segmentation</c> value as stored in JSON: polygons (<c>[[x0,y0,x1,y1,...], ...]</c>), an uncompressed RLE
/// (<c>{"size": [h, w], "counts": [ints]}</c>) or a compressed RLE (<c>{"size": [h, w], "counts": "string"}</c>).
/// </summary>
public abstract record CocoSegmentation
{
    /// <summary>The merged mask, as pycocotools' <c>COCO.annToRLE</c>: polygons are rasterised at the image size and merged;
    /// RLEs keep their own <c>size</c>.</summary>
    public abstract Rle ToRle(int imageHeight, int imageWidth);

    /// <summary>
    /// Checks a ground-truth value when the annotation file loads (<paramref name="where"/> names file and record), so that
    /// garbage fails there rather than as a bare <see cref="FormatException"/> in the middle of training. Polygons were
    /// checked by <see cref="Parse"/>; an RLE must decode and its runs must cover exactly its <c>size</c>.
    /// </summary>
    public virtual void Validate(string where)
    {
    }

    private protected static void CheckRuns(IEnumerable<long> counts, int height, int width, string where)
    {
        if (height < 0 || width < 0)
            throw new DetSharpException($"{where}: the RLE 'size' [{height}, {width}] is negative.");
        long total = 0;
        foreach (long c in counts)
        {
            if (c < 0) throw new DetSharpException($"{where}: the RLE 'counts' hold a negative run ({c}).");
            total += c;
        }
        if (total != (long)height * width)
            throw new DetSharpException($"{where}: the RLE 'counts' cover {total} pixels but its 'size' [{height}, {width}] has {(long)height * width}: the counts are garbage or belong to another size.");
    }

    /// <summary>Parses a JSON segmentation; <paramref name="where"/> names the file and record for error messages.</summary>
    public static CocoSegmentation Parse(JsonElement value, string where)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Array:
            {
                var polygons = new double[value.GetArrayLength()][];
                int i = 0;
                foreach (var poly in value.EnumerateArray())
                {
                    if (poly.ValueKind != JsonValueKind.Array)
                        throw new DetSharpException($"{where}: 'segmentation' must be a list of polygons (lists of numbers), got a {poly.ValueKind} inside it.");
                    var coords = new double[poly.GetArrayLength()];
                    int j = 0;
                    foreach (var c in poly.EnumerateArray())
                    {
                        if (c.ValueKind != JsonValueKind.Number)
                            throw new DetSharpException($"{where}: polygon {i} of 'segmentation' holds a {c.ValueKind}; polygons are lists of numbers.");
                        coords[j++] = c.GetDouble();
                    }
                    polygons[i++] = coords;
                }
                return new PolygonSegmentation(polygons);
            }
            case JsonValueKind.Object:
            {
                if (!value.TryGetProperty("size", out var size) || size.ValueKind != JsonValueKind.Array || size.GetArrayLength() != 2
                    || !value.TryGetProperty("counts", out var counts))
                    throw new DetSharpException($"{where}: an RLE 'segmentation' needs 'size': [height, width] and 'counts'.");
                int h = size[0].GetInt32(), w = size[1].GetInt32();
                if (counts.ValueKind == JsonValueKind.String)
                    return new CompressedRleSegmentation(h, w, counts.GetString()!);
                if (counts.ValueKind == JsonValueKind.Array)
                {
                    var runs = new long[counts.GetArrayLength()];
                    int k = 0;
                    foreach (var c in counts.EnumerateArray()) runs[k++] = c.GetInt64();
                    return new UncompressedRleSegmentation(h, w, runs);
                }
                throw new DetSharpException($"{where}: RLE 'counts' must be a string (compressed) or a list of integers (uncompressed).");
            }
            default:
                throw new DetSharpException($"{where}: 'segmentation' must be a list of polygons or an RLE object, got {value.ValueKind}.");
        }
    }
}

/// <summary>One object's polygons, each a flat <c>[x0, y0, x1, y1, ...]</c> list.</summary>
public sealed record PolygonSegmentation(double[][] Polygons) : CocoSegmentation
{
    public override Rle ToRle(int imageHeight, int imageWidth)
    {
        // pycocotools' frPyObjects: a first element of exactly 4 numbers means "a list of boxes".
        if (Polygons.Length == 0) return new Rle(imageHeight, imageWidth, [(uint)(imageHeight * imageWidth)]);
        var parts = RleConvert.FrPolygonsOrBoxes(Polygons, imageHeight, imageWidth);
        return parts.Length == 1 ? parts[0] : Rle.Merge(parts);
    }
}

/// <summary>An RLE with counts as a plain list of run lengths.</summary>
public sealed record UncompressedRleSegmentation(int Height, int Width, long[] Counts) : CocoSegmentation
{
    public override Rle ToRle(int imageHeight, int imageWidth) => Rle.FromUncompressed(Counts, Height, Width);

    public override void Validate(string where) => CheckRuns(Counts, Height, Width, where);
}

/// <summary>An RLE with COCO's compressed counts string.</summary>
public sealed record CompressedRleSegmentation(int Height, int Width, string Counts) : CocoSegmentation
{
    public override Rle ToRle(int imageHeight, int imageWidth) => Rle.FromCompressedString(Counts, Height, Width);

    public override void Validate(string where)
    {
        Rle rle;
        try
        {
            rle = Rle.FromCompressedString(Counts, Height, Width);
        }
        catch (FormatException e)
        {
            throw new DetSharpException($"{where}: 'segmentation' is not a valid COCO RLE: {e.Message}", e);
        }
        CheckRuns(rle.Counts.Select(c => (long)c), Height, Width, where);
    }
}

/// <summary>A mask already decoded to an <see cref="Rle"/> (detections handed to the evaluation in memory).</summary>
public sealed record RleSegmentation(Rle Rle) : CocoSegmentation
{
    public override Rle ToRle(int imageHeight, int imageWidth) => Rle;
}

using System.Text.Json;
using DetSharp.Structures;

namespace DetSharp.Converters;

/// <summary>An image record for a converter's output.</summary>
public sealed record CocoImageOut(long Id, string FileName, int Height, int Width, string? SegmFile = null);

/// <summary>An annotation for a converter's output: polygons or an RLE, box [x, y, w, h] and area.</summary>
public sealed record CocoAnnotationOut(long Id, long ImageId, long CategoryId, double[] Bbox, double Area, bool IsCrowd,
    double[][]? Polygons = null, Rle? Rle = null);

/// <summary>Writes COCO annotation JSON (numbers that are whole are written as integers, as Python does for ints).</summary>
public static class CocoJsonWriter
{
    public static byte[] Write(IReadOnlyList<CocoImageOut> images, IReadOnlyList<CocoAnnotationOut> annotations,
        IReadOnlyList<(long Id, string Name)> categories, bool omitEmptyAnnotations = false)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteStartArray("images");
            foreach (var img in images)
            {
                w.WriteStartObject();
                w.WriteNumber("id", img.Id);
                w.WriteString("file_name", img.FileName);
                w.WriteNumber("height", img.Height);
                w.WriteNumber("width", img.Width);
                if (img.SegmFile is not null) w.WriteString("segm_file", img.SegmFile);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            if (!(omitEmptyAnnotations && annotations.Count == 0))
            {
                w.WriteStartArray("annotations");
                foreach (var a in annotations)
                {
                    w.WriteStartObject();
                    w.WriteNumber("id", a.Id);
                    w.WriteNumber("image_id", a.ImageId);
                    w.WriteNumber("category_id", a.CategoryId);
                    w.WriteStartArray("bbox");
                    foreach (var v in a.Bbox) Number(w, v);
                    w.WriteEndArray();
                    w.WritePropertyName("area");
                    Number(w, a.Area);
                    if (a.Rle is not null)
                    {
                        w.WriteStartObject("segmentation");
                        w.WriteStartArray("size");
                        w.WriteNumberValue(a.Rle.Height);
                        w.WriteNumberValue(a.Rle.Width);
                        w.WriteEndArray();
                        w.WriteString("counts", a.Rle.ToCompressedString());
                        w.WriteEndObject();
                    }
                    else
                    {
                        w.WriteStartArray("segmentation");
                        foreach (var poly in a.Polygons ?? [])
                        {
                            w.WriteStartArray();
                            foreach (var v in poly) Number(w, v);
                            w.WriteEndArray();
                        }
                        w.WriteEndArray();
                    }
                    w.WriteNumber("iscrowd", a.IsCrowd ? 1 : 0);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            }
            w.WriteStartArray("categories");
            foreach (var (id, name) in categories)
            {
                w.WriteStartObject();
                w.WriteNumber("id", id);
                w.WriteString("name", name);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return buffer.ToArray();
    }

    private static void Number(Utf8JsonWriter w, double v)
    {
        if (v == Math.Floor(v) && Math.Abs(v) < 9e15) w.WriteNumberValue((long)v);
        else w.WriteNumberValue(v);
    }

    /// <summary>Shoelace area of a flat polygon.</summary>
    public static double PolygonArea(ReadOnlySpan<double> xy)
    {
        int n = xy.Length / 2;
        double s = 0;
        for (int i = 0; i < n; i++)
        {
            int j = (i + 1) % n;
            s += xy[2 * i] * xy[2 * j + 1] - xy[2 * j] * xy[2 * i + 1];
        }
        return Math.Abs(s) / 2;
    }
}

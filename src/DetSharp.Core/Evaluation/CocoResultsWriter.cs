using System.Text.Json;
using DetSharp.Structures;

namespace DetSharp.Evaluation;

/// <summary>One detection to write: box <c>[x, y, w, h]</c>, score, category id, and optionally a mask.</summary>
public sealed record CocoDetection(long ImageId, long CategoryId, BoxXywh Bbox, double Score, Rle? Mask = null);

/// <summary>Writes COCO results JSON (<c>[{image_id, bbox, score, category_id, segmentation}]</c>), masks as compressed RLE.</summary>
public static class CocoResultsWriter
{
    public static void Write(string path, IEnumerable<CocoDetection> detections)
    {
        string tmp = path + ".tmp";
        using (var stream = File.Create(tmp))
            Write(stream, detections);
        File.Move(tmp, path, overwrite: true);
    }

    public static void Write(Stream stream, IEnumerable<CocoDetection> detections)
    {
        using var w = new Utf8JsonWriter(stream);
        w.WriteStartArray();
        foreach (var d in detections)
        {
            w.WriteStartObject();
            w.WriteNumber("image_id", d.ImageId);
            w.WriteStartArray("bbox");
            w.WriteNumberValue(d.Bbox.X); w.WriteNumberValue(d.Bbox.Y); w.WriteNumberValue(d.Bbox.W); w.WriteNumberValue(d.Bbox.H);
            w.WriteEndArray();
            w.WriteNumber("score", d.Score);
            w.WriteNumber("category_id", d.CategoryId);
            if (d.Mask is { } m)
            {
                w.WriteStartObject("segmentation");
                w.WriteStartArray("size"); w.WriteNumberValue(m.Height); w.WriteNumberValue(m.Width); w.WriteEndArray();
                w.WriteString("counts", m.ToCompressedString());
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }
}

using System.Runtime.InteropServices;
using System.Text.Json;
using DetSharp.Config;
using DetSharp.Core.Tests.Parity;
using DetSharp.Datasets;
using OpenCvSharp;

namespace DetSharp.Core.Tests.Datasets;

/// <summary>
/// One case of <c>fixtures/mmdet/transforms/*.json</c>: the case's transforms run on the fixture's balloon train image
/// (after LoadImageFromFile and LoadAnnotations), compared with MMDetection 2.25 / mmcv 1.7's result.
/// </summary>
public static class TransformParity
{
    public const string Family = "transforms";

    public static IReadOnlyList<string> Files { get; } = ["balloon_train_image0_transforms.json", "balloon_train_transforms.json"];

    private static JsonDocument Load(string file) => SharedData.LoadJson("fixtures", "mmdet", "transforms", file);

    public static IReadOnlyList<string> CaseNames(string file)
    {
        using var doc = Load(file);
        return doc.RootElement.GetProperty("cases").EnumerateObject().Select(p => p.Name).ToList();
    }

    /// <summary>
    /// Rows: exact fields (image shape and dtype, labels, mask pixel counts and shape, scale factor, pad shape, flip),
    /// channel sums (relative to the largest channel sum: JPEG decoders may differ by a grey level on a few pixels),
    /// sampled pixels (within one grey level, 1/57 after Normalize) and boxes.
    /// </summary>
    public static IReadOnlyList<ParityRow> Measure(string file, string name)
    {
        using var doc = Load(file);
        var c = doc.RootElement.GetProperty("cases").GetProperty(name);
        var pipeline = new ConfigList
        {
            CocoDatasetTests.Cfg("dict(type='LoadImageFromFile')"),
            CocoDatasetTests.Cfg("dict(type='LoadAnnotations', with_bbox=True, with_mask=True, poly2mask=True)"),
        };
        foreach (var t in c.GetProperty("transforms").EnumerateArray()) pipeline.Add(ToConfig(t));
        var cfg = CocoDatasetTests.Cfg($"dict(type='CocoDataset', data_root='{SharedData.FullPath("datasets")}/', ann_file='balloon/train/annotation_coco.json', " +
            "img_prefix='balloon/train/', classes=('balloon',))");
        cfg["pipeline"] = pipeline;
        var ds = (CocoDataset)DatasetBuilder.Build(cfg);
        using var s = ds.GetItem(doc.RootElement.GetProperty("dataset_index").GetInt32(), new Random(0));
        var r = c.GetProperty("result");
        var checks = new ParityChecks(Family, $"{file}: {name}");

        var exact = new ExactFields()
            .Add("img_shape", r.GetProperty("img_shape").EnumerateArray().Select(v => (int)v.GetDouble()), [s.Img!.Rows, s.Img.Cols, s.Img.Channels()])
            .AddValue("dtype", r.GetProperty("dtype").GetString() == "uint8" ? MatType.CV_8U : MatType.CV_32F, s.Img.Depth())
            .Add("gt_labels", r.GetProperty("gt_labels").EnumerateArray().Select(v => v.GetInt64()), s.GtLabels!)
            .Add("mask_pixel_counts", r.GetProperty("mask_pixel_counts").EnumerateArray().Select(v => v.GetDouble()), s.GtMasks!.Areas());
        if (r.TryGetProperty("gt_masks_shape", out var ms))
            exact.Add("gt_masks_shape", ms.EnumerateArray().Select(v => v.GetInt32()), [s.GtMasks.Count, s.GtMasks.Height, s.GtMasks.Width]);
        // The image0 file prefixes result-dict fields with meta_; the other file does not.
        foreach (var key in new[] { "scale_factor", "meta_scale_factor" })
            if (r.TryGetProperty(key, out var sf)) exact.Add(key, sf.EnumerateArray().Select(v => (float)v.GetDouble()), s.ScaleFactor!);
        foreach (var key in new[] { "pad_shape", "meta_pad_shape" })
            if (r.TryGetProperty(key, out var ps))
                exact.Add(key, ps.EnumerateArray().Select(v => (int)v.GetDouble()), [s.PadShape!.Value.Height, s.PadShape.Value.Width, s.PadShape.Value.Channels]);
        foreach (var key in new[] { "flip", "meta_flip" })
            if (r.TryGetProperty(key, out var f)) exact.AddValue(key, f.GetBoolean(), s.Flip);
        foreach (var key in new[] { "flip_direction", "meta_flip_direction" })
            if (r.TryGetProperty(key, out var fd)) exact.AddValue(key, fd.GetString(), s.FlipDirection);
        checks.Exact("shape, dtype, labels, masks, meta", exact);

        var expectedSums = (r.TryGetProperty("channel_sums_float64", out var cs) ? cs : r.GetProperty("channel_sums")).EnumerateArray().Select(v => v.GetDouble()).ToArray();
        double scale = expectedSums.Max(Math.Abs) + 1;
        checks.Values("channel sums", expectedSums, ChannelSums(s.Img), Tolerance.Relative(1e-4), k => Math.Max(Math.Abs(expectedSums[k]), scale));

        bool isFloat = s.Img.Depth() == MatType.CV_32F;
        var expectedPixels = new List<double>();
        var actualPixels = new List<double>();
        foreach (var sample in (r.TryGetProperty("pixel_samples_y_x_c0_c1_c2", out var px) ? px : r.GetProperty("samples")).EnumerateArray())
        {
            var v = sample.EnumerateArray().Select(x => x.GetDouble()).ToArray();
            for (int k = 0; k < 3; k++)
            {
                expectedPixels.Add(v[2 + k]);
                actualPixels.Add(isFloat ? s.Img.At<Vec3f>((int)v[0], (int)v[1])[k] : s.Img.At<Vec3b>((int)v[0], (int)v[1])[k]);
            }
        }
        checks.Values("pixel samples", expectedPixels, actualPixels, Tolerance.Absolute(isFloat ? 1.01 / 57 : 1.01));

        var boxes = r.GetProperty("gt_bboxes").EnumerateArray().SelectMany(b => b.EnumerateArray().Select(v => v.GetDouble())).ToArray();
        checks.Values("gt_bboxes", boxes, s.GtBboxes!.Select(v => (double)v).ToArray(), Tolerance.Absolute(1e-3, 1e-6));
        return checks.Rows;
    }

    internal static object? ToConfig(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => ToDict(e),
        JsonValueKind.Array when e.EnumerateArray().All(x => x.ValueKind == JsonValueKind.Number) => new ConfigTuple(e.EnumerateArray().Select(ToConfig)),
        JsonValueKind.Array => new ConfigList(e.EnumerateArray().Select(ToConfig)),
        JsonValueKind.Number => e.TryGetInt64(out long l) ? (object)l : e.GetDouble(),
        JsonValueKind.String => e.GetString(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => null,
    };

    private static ConfigDict ToDict(JsonElement e)
    {
        var d = new ConfigDict();
        foreach (var p in e.EnumerateObject()) d[p.Name] = ToConfig(p.Value);
        return d;
    }

    private static double[] ChannelSums(Mat img)
    {
        using var f = new Mat();
        img.ConvertTo(f, MatType.CV_64FC(img.Channels()));
        var data = new double[f.Rows * f.Cols * f.Channels()];
        Marshal.Copy(f.Data, data, 0, data.Length);
        var sums = new double[f.Channels()];
        for (int i = 0; i < data.Length; i++) sums[i % sums.Length] += data[i];
        return sums;
    }
}

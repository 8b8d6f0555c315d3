using System.Runtime.InteropServices;
using System.Text.Json;
using DetSharp.Config;
using DetSharp.Core.Tests.TestSupport;
using DetSharp.Datasets;
using OpenCvSharp;

namespace DetSharp.Core.Tests.Datasets;

/// <summary>Each deterministic transform on a balloon image against MMDetection 2.25 / mmcv 1.7 outputs (fixtures/mmdet/transforms).</summary>
public class TransformFixtureTests
{
    public static IEnumerable<object[]> Cases(string file)
    {
        if (!RepoPaths.HasShared) return [["none"]];
        using var doc = RepoPaths.LoadSharedJson("fixtures", "mmdet", "transforms", file);
        return doc.RootElement.GetProperty("cases").EnumerateObject().Select(p => new object[] { p.Name }).ToList();
    }

    public static IEnumerable<object[]> Image0Cases() => Cases("balloon_train_image0_transforms.json");
    public static IEnumerable<object[]> Image4Cases() => Cases("balloon_train_transforms.json");

    [SharedTheory]
    [MemberData(nameof(Image0Cases))]
    public void Image0_case_matches_mmdetection(string name) => Check("balloon_train_image0_transforms.json", 0, name);

    [SharedTheory]
    [MemberData(nameof(Image4Cases))]
    public void Image4_case_matches_mmdetection(string name) => Check("balloon_train_transforms.json", 4, name);

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

    private static void Check(string file, int index, string name)
    {
        using var doc = RepoPaths.LoadSharedJson("fixtures", "mmdet", "transforms", file);
        var c = doc.RootElement.GetProperty("cases").GetProperty(name);
        var pipeline = new ConfigList
        {
            CocoDatasetTests.Cfg("dict(type='LoadImageFromFile')"),
            CocoDatasetTests.Cfg("dict(type='LoadAnnotations', with_bbox=True, with_mask=True, poly2mask=True)"),
        };
        foreach (var t in c.GetProperty("transforms").EnumerateArray()) pipeline.Add(ToConfig(t));
        var cfg = CocoDatasetTests.Cfg($"dict(type='CocoDataset', data_root='{RepoPaths.InShared("datasets")}/', ann_file='balloon/train/annotation_coco.json', " +
            "img_prefix='balloon/train/', classes=('balloon',))");
        cfg["pipeline"] = pipeline;
        var ds = (CocoDataset)DatasetBuilder.Build(cfg);
        using var s = ds.GetItem(index, new Random(0));
        var r = c.GetProperty("result");

        var shape = r.GetProperty("img_shape").EnumerateArray().Select(v => (int)v.GetDouble()).ToArray();
        Assert.Equal(shape, new[] { s.Img!.Rows, s.Img.Cols, s.Img.Channels() });
        Assert.Equal(r.GetProperty("dtype").GetString() == "uint8" ? MatType.CV_8U : MatType.CV_32F, s.Img.Depth());
        var sums = ChannelSums(s.Img);
        var expectedSums = (r.TryGetProperty("channel_sums_float64", out var cs) ? cs : r.GetProperty("channel_sums")).EnumerateArray().Select(v => v.GetDouble()).ToArray();
        double scale = expectedSums.Max(Math.Abs) + 1;
        for (int k = 0; k < 3; k++)
            Assert.True(Math.Abs(sums[k] - expectedSums[k]) <= 1e-4 * Math.Max(Math.Abs(expectedSums[k]), scale),
                $"channel {k} sum {sums[k]} vs {expectedSums[k]}");

        var boxes = r.GetProperty("gt_bboxes").EnumerateArray().SelectMany(b => b.EnumerateArray().Select(v => v.GetDouble())).ToArray();
        Assert.Equal(boxes.Length, s.GtBboxes!.Length);
        for (int i = 0; i < boxes.Length; i++) Assert.True(Math.Abs(boxes[i] - s.GtBboxes[i]) <= 1e-3 + 1e-6 * Math.Abs(boxes[i]), $"box value {i}: {s.GtBboxes[i]} vs {boxes[i]}");
        Assert.Equal(r.GetProperty("gt_labels").EnumerateArray().Select(v => v.GetInt64()), s.GtLabels!);
        var counts = r.GetProperty("mask_pixel_counts").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        Assert.Equal(counts, s.GtMasks!.Areas());
        if (r.TryGetProperty("gt_masks_shape", out var ms))
            Assert.Equal(ms.EnumerateArray().Select(v => v.GetInt32()), [s.GtMasks.Count, s.GtMasks.Height, s.GtMasks.Width]);

        foreach (var key in new[] { "scale_factor", "meta_scale_factor" })
            if (r.TryGetProperty(key, out var sf))
                Assert.Equal(sf.EnumerateArray().Select(v => (float)v.GetDouble()), s.ScaleFactor!);
        foreach (var key in new[] { "pad_shape", "meta_pad_shape" })
            if (r.TryGetProperty(key, out var ps))
            {
                var p = ps.EnumerateArray().Select(v => (int)v.GetDouble()).ToArray();
                Assert.Equal(p, new[] { s.PadShape!.Value.Height, s.PadShape.Value.Width, s.PadShape.Value.Channels });
            }
        foreach (var key in new[] { "flip", "meta_flip" })
            if (r.TryGetProperty(key, out var f)) Assert.Equal(f.GetBoolean(), s.Flip);
        foreach (var key in new[] { "flip_direction", "meta_flip_direction" })
            if (r.TryGetProperty(key, out var fd)) Assert.Equal(fd.GetString(), s.FlipDirection);

        var samples = (r.TryGetProperty("pixel_samples_y_x_c0_c1_c2", out var px) ? px : r.GetProperty("samples")).EnumerateArray();
        bool isFloat = s.Img.Depth() == MatType.CV_32F;
        foreach (var sample in samples)
        {
            var v = sample.EnumerateArray().Select(x => x.GetDouble()).ToArray();
            double tol = isFloat ? 1.01 / 57 : 1.01;
            for (int k = 0; k < 3; k++)
            {
                double actual = isFloat ? s.Img.At<Vec3f>((int)v[0], (int)v[1])[k] : s.Img.At<Vec3b>((int)v[0], (int)v[1])[k];
                Assert.True(Math.Abs(actual - v[2 + k]) <= tol, $"pixel ({v[0]}, {v[1]}) channel {k}: {actual} vs {v[2 + k]}");
            }
        }
    }

    internal static double[] ChannelSums(Mat img)
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

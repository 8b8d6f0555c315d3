using System.Text.Json;
using DetSharp.Apis;
using DetSharp.Config;
using DetSharp.Datasets;
using DetSharp.Models;
using DetSharp.Tests.Models;
using Xunit.Abstractions;

namespace DetSharp.Tests.Apis;

/// <summary>The shared inference path: test pipeline → SimpleTest, COCO results entries.</summary>
public sealed class InferenceTests(ITestOutputHelper output)
{
    private const string Ckpt = "fixtures/mmdet/parity/mask_rcnn_slim.pth";

    /// <summary>The slim balloon config pointed at ../shared, with the parity model's test settings (1333x800, score_thr 0).</summary>
    internal static Config.Config SlimConfig(params string[] extra)
    {
        string root = SharedData.FullPath("datasets/balloon");
        var options = new List<string>
        {
            $"data.train.ann_file={root}/train/annotation_coco.json", $"data.train.img_prefix={root}/train/",
            $"data.val.ann_file={root}/val/annotation_coco.json", $"data.val.img_prefix={root}/val/",
            $"data.test.ann_file={root}/val/annotation_coco.json", $"data.test.img_prefix={root}/val/",
        };
        options.AddRange(extra);
        return ConfigTools.Load(ModelFixtures.RepoConfig("balloon/mask_rcnn_r18_slim_fpn_balloon.py"), options);
    }

    [SharedFact(Ckpt)]
    public void TestPath_OnBalloonVal_MatchesMmdetParityOutputs_AndFormatsCocoResults()
    {
        var cfg = SlimConfig("data.test.pipeline.1.img_scale=(1333,800)", "model.test_cfg.rcnn.score_thr=0.0",
            "model.test_cfg.rpn.nms_pre=1000", "model.test_cfg.rpn.max_per_img=1000");
        var model = ModelFixtures.Build(cfg.Get<ConfigDict>("model"));
        Assert.True(CheckpointLoader.Load(model, SharedData.FullPath(Ckpt), strict: true).ExactMatch);
        model.eval();
        var dataset = (CocoDataset)DatasetBuilder.Build(cfg.Get<ConfigDict>("data.test"), new Dictionary<string, object?> { ["test_mode"] = true });
        using var fixture = SharedData.LoadJson("fixtures/mmdet/parity/mask_rcnn_slim.outputs.json");
        var records = fixture.RootElement.GetProperty("test").EnumerateArray().ToArray();
        var results = new List<DetectionSet>();
        var rng = new Random(0);
        for (int i = 0; i < dataset.Count; i++)
        {
            using var sample = dataset.GetItem(i, rng);
            var r = Inference.Run(model, [sample], dataset.Classes);
            Assert.Single(r);
            results.Add(r[0]);
            if (i >= records.Length) continue;
            var rec = records[i];
            Assert.EndsWith(rec.GetProperty("file_name").GetString()!, r[0].Source);
            var expected = rec.GetProperty("bbox_results")[0].EnumerateArray().Select(row => row.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray();
            Assert.Equal(expected.Length, r[0].Detections.Count);
            for (int k = 0; k < 10; k++)
            {
                var d = r[0].Detections[k];
                float[] box = [d.X1, d.Y1, d.X2, d.Y2];
                for (int c = 0; c < 4; c++)
                    Assert.True(Math.Abs(expected[k][c] - box[c]) < 0.05, $"image {i} det {k} coord {c}: {box[c]} vs {expected[k][c]}");
                Assert.True(Math.Abs(expected[k][4] - d.Score) < 1e-4);
            }
            Assert.Equal(rec.GetProperty("ori_shape")[0].GetInt32(), r[0].Height);
            var mask = r[0].Detections[0].Mask!;
            Assert.Equal((r[0].Height, r[0].Width), (mask.Height, mask.Width));
            Assert.Equal(r[0].Height * r[0].Width, r[0].Detections[0].BitmapMask()!.Length);
            if (i == 2) break;
        }
        // _det2json / _segm2json: xywh boxes, category id from cat_ids, RLE counts as a string
        var ids = dataset.ImgIds.Take(results.Count).ToList();
        var bbox = CocoResultsFormat.Det2Json(results, ids, dataset.CatIds);
        var segm = CocoResultsFormat.Segm2Json(results, ids, dataset.CatIds);
        Assert.Equal(results.Sum(r => r.Detections.Count), bbox.Count);
        Assert.Equal(bbox.Count, segm.Count);
        var first = results[0].Detections[0];
        Assert.Equal(ids[0], bbox[0].ImageId);
        Assert.Equal(dataset.CatIds[0], bbox[0].CategoryId);
        Assert.Equal(first.X2 - first.X1, bbox[0].Bbox.W, 4);
        Assert.Equal(first.Score, segm[0].Score, 6);
        string dir = Directory.CreateTempSubdirectory("detsharp-infer").FullName;
        try
        {
            var files = CocoResultsFormat.Results2Json(results, ids, dataset.CatIds, Path.Combine(dir, "res"));
            using var doc = JsonDocument.Parse(File.ReadAllText(files["segm"]));
            var e = doc.RootElement[0];
            Assert.Equal(JsonValueKind.String, e.GetProperty("segmentation").GetProperty("counts").ValueKind);
            Assert.Equal(4, e.GetProperty("bbox").GetArrayLength());
            output.WriteLine($"{bbox.Count} detections on {results.Count} images");
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}

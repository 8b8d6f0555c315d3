using System.Text.Json;
using DetSharp.Apis;
using DetSharp.Config;
using DetSharp.Datasets;
using DetSharp.Evaluation;
using DetSharp.Models;
using DetSharp.Models.Detectors;
using DetSharp.Structures;
using DetSharp.Tests.Models;
using Xunit.Abstractions;

namespace DetSharp.Tests.Apis;

/// <summary>The shared inference path: collate, test pipeline → SimpleTest, COCO results entries.</summary>
public sealed class InferenceTests(ITestOutputHelper output)
{
    private const string Ckpt = "fixtures/mmdet/parity/mask_rcnn_slim.pth";

    private static DetSample Sample(int h, int w, float fill, float[]? boxes = null)
    {
        var chw = Enumerable.Repeat(fill, 3 * h * w).ToArray();
        return new DetSample
        {
            ImageChw = chw, ImageChwShape = (3, h, w), ImgShape = new ImageShape(h, w, 3), OriShape = new ImageShape(h * 2, w * 2, 3),
            ScaleFactor = [0.5f, 0.5f, 0.5f, 0.5f], Filename = $"{h}x{w}.jpg",
            GtBboxes = boxes, GtLabels = boxes is null ? null : new long[boxes.Length / 4],
            GtMasks = boxes is null ? null : new BitmapMasks(Enumerable.Range(0, boxes.Length / 4).Select(_ => new byte[h * w]).ToArray(), h, w),
        };
    }

    [Fact]
    public void Collate_PadsBottomRightToBatchMax_AndMakesGtTensors()
    {
        using var a = Sample(4, 6, 1f, [0, 0, 2, 2]);
        using var b = Sample(5, 3, 2f, [1, 1, 2, 2, 0, 0, 1, 1]);
        using var batch = DetCollate.Collate([a, b], withGt: true);
        Assert.Equal(new long[] { 2, 3, 5, 6 }, batch.Img.shape);
        Assert.Equal(1f, batch.Img[0, 2, 3, 5].item<float>());
        Assert.Equal(0f, batch.Img[0, 0, 4, 0].item<float>()); // padded row
        Assert.Equal(2f, batch.Img[1, 1, 4, 2].item<float>());
        Assert.Equal(0f, batch.Img[1, 1, 0, 3].item<float>()); // padded column
        Assert.Equal(2, batch.NumSamples);
        Assert.Equal((4, 6), batch.ImgMetas[0].ImgShape);
        Assert.Equal((8, 12), batch.ImgMetas[0].OriShape);
        Assert.Equal(new long[] { 2, 4 }, batch.GtBboxes![1].shape);
        Assert.Equal(TorchSharp.torch.ScalarType.Int64, batch.GtLabels![1].dtype);
        Assert.Equal(2, batch.GtMasks![1].Count);
        Assert.Null(batch.GtBboxesIgnore![0]);
        using var padded = DetCollate.Collate([a], withGt: false, sizeDivisor: 32);
        Assert.Equal(new long[] { 1, 3, 32, 32 }, padded.Img.shape);
        Assert.Null(padded.GtBboxes);
    }

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
        Assert.True(CheckpointLoader.Load(model, SharedData.FullPath(Ckpt), strict: true).IsExact);
        model.eval();
        var dataset = (CocoDataset)DatasetBuilder.Build(cfg.Get<ConfigDict>("data.test"), new Dictionary<string, object?> { ["test_mode"] = true });
        using var fixture = SharedData.LoadJson("fixtures/mmdet/parity/mask_rcnn_slim.outputs.json");
        var records = fixture.RootElement.GetProperty("test").EnumerateArray().ToArray();
        var results = new List<ImageDetections>();
        var rng = new Random(0);
        for (int i = 0; i < dataset.Count; i++)
        {
            using var sample = dataset.GetItem(i, rng);
            var r = Inference.Run(model, [sample]);
            Assert.Single(r);
            results.Add(r[0]);
            if (i >= records.Length) continue;
            var rec = records[i];
            Assert.EndsWith(rec.GetProperty("file_name").GetString()!, r[0].Filename);
            var expected = rec.GetProperty("bbox_results")[0].EnumerateArray().Select(row => row.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray();
            Assert.Equal(expected.Length, r[0].Count);
            for (int k = 0; k < 10; k++)
            {
                for (int c = 0; c < 4; c++)
                    Assert.True(Math.Abs(expected[k][c] - r[0].Bboxes[k * 4 + c]) < 0.05, $"image {i} det {k} coord {c}: {r[0].Bboxes[k * 4 + c]} vs {expected[k][c]}");
                Assert.True(Math.Abs(expected[k][4] - r[0].Scores[k]) < 1e-4);
            }
            var (oh, ow) = r[0].OriShape;
            Assert.Equal(rec.GetProperty("ori_shape")[0].GetInt32(), oh);
            Assert.Equal(oh, r[0].Masks![0].Height);
            Assert.Equal(ow, r[0].Masks![0].Width);
            Assert.Equal(oh * ow, r[0].BitmapMask(0).Length);
            if (i == 2) break;
        }
        // _det2json / _segm2json: xywh boxes, category id from cat_ids, RLE counts as a string
        var ids = dataset.ImgIds.Take(results.Count).ToList();
        var bbox = CocoResultsFormat.Det2Json(results, ids, dataset.CatIds);
        var segm = CocoResultsFormat.Segm2Json(results, ids, dataset.CatIds);
        Assert.Equal(results.Sum(r => r.Count), bbox.Count);
        Assert.Equal(bbox.Count, segm.Count);
        var first = results[0];
        Assert.Equal(ids[0], bbox[0].ImageId);
        Assert.Equal(dataset.CatIds[0], bbox[0].CategoryId);
        Assert.Equal(first.Bboxes[2] - first.Bboxes[0], bbox[0].Bbox.W, 4);
        Assert.Equal(first.Scores[0], segm[0].Score, 6);
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

using System.Text.Json;
using DetSharp.Apis;
using DetSharp.Config;
using DetSharp.Datasets;
using DetSharp.Datasets.Transforms;
using DetSharp.Models.Detectors;
using DetSharp.Tests.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Tests.Datasets;

/// <summary>Fast R-CNN's proposal files: the dataset's <c>proposal_file</c>, <c>LoadProposals</c>, collation, and the engine's entry points.</summary>
public sealed class ProposalFileTests : IDisposable
{
    private const string Balloon = "datasets/balloon";
    private readonly string _dir = Directory.CreateTempSubdirectory("detsharp-proposals").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void LoadProposals_DropsScores_KeepsTheFirstNumMax_AndGivesOneZeroBoxWhenEmpty()
    {
        using var sample = new DetSample();
        sample.Meta[LoadProposals.Key] = new float[,] { { 1, 2, 3, 4, 0.9f }, { 5, 6, 7, 8, 0.8f }, { 9, 10, 11, 12, 0.7f } };
        new LoadProposals(numMaxProposals: 2).Apply(sample, new Random(0));
        Assert.Equal([1f, 2, 3, 4, 5, 6, 7, 8], sample.GetBoxes(LoadProposals.Key)!);
        Assert.Contains(LoadProposals.Key, sample.BboxFields);

        using var empty = new DetSample();
        empty.Meta[LoadProposals.Key] = new float[0, 5];
        new LoadProposals().Apply(empty, new Random(0));
        Assert.Equal([0f, 0, 0, 0], empty.GetBoxes(LoadProposals.Key)!);

        using var bad = new DetSample();
        bad.Meta[LoadProposals.Key] = new float[1, 3];
        Assert.Contains("4 or 5 columns", Assert.Throws<DetSharpException>(() => new LoadProposals().Apply(bad, new Random(0))).Message);
    }

    [Fact]
    public void A_pickled_proposal_file_is_refused_with_how_to_convert_it()
    {
        var e = Assert.Throws<DetSharpException>(() => ProposalFile.Load(Path.Combine(_dir, "rpn_val2017.pkl")));
        Assert.Contains("JSON", e.Message);
    }

    [SharedFact(Balloon)]
    public void FastRCNN_trains_one_iteration_and_tests_on_a_proposal_file()
    {
        string root = SharedData.FullPath(Balloon);
        string ann = $"{root}/val/annotation_coco.json";
        string proposals = WriteProposals(ann);
        var cfg = ConfigTools.Load(Path.Combine(SharedData.FullPath("mmdet-configs-2.28"), "fast_rcnn", "fast_rcnn_r50_fpn_1x_coco.py"),
        [
            "model.backbone.depth=18", "model.backbone.base_channels=16", "model.backbone.init_cfg=None",
            "model.neck.in_channels=[16,32,64,128]", "model.neck.out_channels=32",
            "model.roi_head.bbox_roi_extractor.out_channels=32", "model.roi_head.bbox_head.in_channels=32",
            "model.roi_head.bbox_head.fc_out_channels=64", "model.roi_head.bbox_head.num_classes=1",
            "model.train_cfg.rcnn.sampler.num=64", "model.test_cfg.rcnn.score_thr=0.0",
            $"data.train.ann_file={ann}", $"data.train.img_prefix={root}/val/", $"data.train.proposal_file={proposals}",
            "data.train.classes=('balloon',)", "data.train.pipeline.3.img_scale=(160,128)",
            $"data.test.ann_file={ann}", $"data.test.img_prefix={root}/val/", $"data.test.proposal_file={proposals}",
            "data.test.classes=('balloon',)", "data.test.pipeline.2.img_scale=(160,128)",
        ]);
        torch.manual_seed(0);
        var model = (FastRCNN)ModelFixtures.Build(cfg.Get<ConfigDict>("model"));
        var train = (CustomDataset)DatasetBuilder.Build(cfg.Get<ConfigDict>("data.train"));
        Assert.Equal(train.Count, train.Proposals!.Count);

        // The proposals are resized (and flipped) with the image: bbox_fields.
        var rng = new Random(0);
        var samples = new[] { train.GetItem(0, rng), train.GetItem(1, rng) };
        try
        {
            var raw = train.Proposals[0];
            var moved = samples[0].GetBoxes(LoadProposals.Key)!;
            Assert.Equal(Math.Min(raw.GetLength(0), 2000) * 4, moved.Length);
            float sx = samples[0].ScaleFactor![0];
            float x1 = samples[0].Flip == true ? samples[0].ImgShape.Width - moved[2] : moved[0];
            Assert.Equal(raw[0, 0] * sx, x1, 2);

            // One training iteration through the engine's entry point (the runner's train_step forward).
            model.train();
            var optimizer = optim.SGD(model.parameters(), 0.01);
            using (var scope = NewDisposeScope())
            using (var batch = DetCollate.Collate(samples, withGt: true))
            {
                Assert.Equal(2, batch.Proposals!.Count);
                var losses = model.ForwardTrain(batch);
                Assert.Contains("loss_cls", losses.Keys);
                Assert.Contains("loss_bbox", losses.Keys);
                var (total, logVars) = losses.Parse();
                Assert.True(double.IsFinite(logVars["loss"]) && logVars["loss"] > 0, $"loss {logVars["loss"]}");
                optimizer.zero_grad();
                total.backward();
                optimizer.step();
            }

            // Without proposals the detector says what is missing.
            using (var plain = DetCollate.Collate([samples[0]], withGt: false))
                Assert.Contains("proposal_file", Assert.Throws<DetSharpException>(() => model.SimpleTest(plain.Img, plain.ImgMetas)).Message);
        }
        finally
        {
            foreach (var s in samples) s.Dispose();
        }

        // Testing: every image of the test set gets detections from its proposals.
        var test = DatasetBuilder.Build(cfg.Get<ConfigDict>("data.test"), new Dictionary<string, object?> { ["test_mode"] = true });
        var results = Inference.RunDataset(new LibtorchBackend(model), test);
        Assert.Equal(test.Count, results.Count);
        Assert.All(results, r => Assert.NotEmpty(r.Detections));
    }

    /// <summary>A proposal file for <paramref name="annFile"/>: per image its boxes, shifted by a few pixels, with a score.</summary>
    private string WriteProposals(string annFile)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(annFile));
        var perImage = doc.RootElement.GetProperty("images").EnumerateArray().Select(i => i.GetProperty("id").GetInt64())
            .ToDictionary(id => id, _ => new List<float[]>());
        foreach (var a in doc.RootElement.GetProperty("annotations").EnumerateArray())
        {
            var b = a.GetProperty("bbox").EnumerateArray().Select(v => v.GetSingle()).ToArray();
            foreach (float d in new[] { 0f, 8f, -8f, 30f })
                perImage[a.GetProperty("image_id").GetInt64()].Add([b[0] + d, b[1] + d, b[0] + b[2] + d, b[1] + b[3] + d, 0.9f]);
        }
        string path = Path.Combine(_dir, "proposals.json");
        File.WriteAllText(path, JsonSerializer.Serialize(perImage.Values.ToList()));
        return path;
    }
}

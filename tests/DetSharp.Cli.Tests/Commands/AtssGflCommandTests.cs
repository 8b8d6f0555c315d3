using System.Text.Json;

namespace DetSharp.Cli.Tests.Commands;

/// <summary>
/// MMDetection's own ATSS and GFL configs (../shared/mmdet-configs-2.28, unchanged) through <c>train</c>,
/// <c>test --eval bbox</c> and <c>infer --json</c>, made small on the command line (ResNet-18 of base width 16, 32-channel
/// FPN and head, 128×96 images, one epoch on the 13 balloon val images, one class). A smoke run: it shows the commands
/// work end to end on these configs, not that the models learn (the parity tests show the numbers).
/// </summary>
public sealed class AtssGflCommandTests
{
    private const string Balloon = "datasets/balloon";

    private static string[] Options(string root)
    {
        string ann = $"{root}/val/annotation_coco.json", prefix = $"{root}/val/";
        return
        [
            "--cfg-options",
            $"data.train.ann_file={ann}", $"data.train.img_prefix={prefix}", $"data.val.ann_file={ann}", $"data.val.img_prefix={prefix}",
            $"data.test.ann_file={ann}", $"data.test.img_prefix={prefix}",
            "data.train.classes=('balloon',)", "data.val.classes=('balloon',)", "data.test.classes=('balloon',)", "model.bbox_head.num_classes=1",
            "model.backbone.depth=18", "model.backbone.base_channels=16", "model.backbone.init_cfg=None",
            "model.neck.in_channels=[16,32,64,128]", "model.neck.out_channels=32",
            "model.bbox_head.in_channels=32", "model.bbox_head.feat_channels=32", "model.bbox_head.stacked_convs=2",
            "runner.max_epochs=1", "data.samples_per_gpu=8", "data.train.pipeline.2.img_scale=(128,96)",
            "data.val.pipeline.1.img_scale=(128,96)", "data.test.pipeline.1.img_scale=(128,96)", "log_config.interval=1",
            // After one epoch few scores pass 0.05; keep every candidate so that test and infer have detections to handle.
            "model.test_cfg.score_thr=0.0",
        ];
    }

    [SharedTheory(Balloon, "mmdet-configs-2.28/atss/atss_r50_fpn_1x_coco.py", "mmdet-configs-2.28/gfl/gfl_r50_fpn_1x_coco.py")]
    [InlineData("mmdet-configs-2.28/atss/atss_r50_fpn_1x_coco.py", "loss_centerness")]
    [InlineData("mmdet-configs-2.28/gfl/gfl_r50_fpn_1x_coco.py", "loss_dfl")]
    public void UpstreamConfig_TrainsTestsAndInfers(string config, string thirdLoss)
    {
        string cfg = SharedData.FullPath(config);
        string root = SharedData.FullPath(Balloon);
        var options = Options(root);
        string tmp = Directory.CreateTempSubdirectory("detsharp-atss-gfl").FullName;
        try
        {
            string work = Path.Combine(tmp, "work");
            var t = CliRunner.RunWithTimeout(600, ["train", cfg, "--work-dir", work, .. options]);
            Assert.True(t.ExitCode == 0, t.Stdout + t.Stderr);
            var logJson = Directory.GetFiles(work, "*.log.json").Single();
            var train = File.ReadAllLines(logJson).Skip(1).First(l => l.Contains("\"mode\": \"train\"", StringComparison.Ordinal));
            using (var doc = JsonDocument.Parse(train))
            {
                foreach (var key in new[] { "loss_cls", "loss_bbox", thirdLoss, "loss" })
                    Assert.True(double.IsFinite(doc.RootElement.GetProperty(key).GetDouble()), $"{key} in {train}");
            }

            var r = CliRunner.RunWithTimeout(300, ["test", cfg, Path.Combine(work, "latest.pth"), "--eval", "bbox", "--work-dir", work, .. options]);
            Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
            using (var evalDoc = JsonDocument.Parse(File.ReadAllText(Directory.GetFiles(work, "eval_*.json").Single())))
            {
                double map = evalDoc.RootElement.GetProperty("metric").GetProperty("bbox_mAP").GetDouble();
                Assert.InRange(map, 0, 1);
            }

            string image = Directory.GetFiles(Path.Combine(root, "val"), "*.jpg").Order(StringComparer.Ordinal).First();
            string outDir = Path.Combine(tmp, "infer");
            var i = CliRunner.RunWithTimeout(300, ["infer", cfg, Path.Combine(work, "latest.pth"), image, "--out-dir", outDir, "--score-thr", "0", "--json", .. options]);
            Assert.True(i.ExitCode == 0, i.Stdout + i.Stderr);
            Assert.True(File.Exists(Path.Combine(outDir, Path.GetFileName(image))));
            using var results = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "results.json")));
            Assert.True(results.RootElement.GetArrayLength() > 0, "infer found no detections at score 0");
            Assert.All(results.RootElement.EnumerateArray(), d => Assert.Equal(4, d.GetProperty("bbox").GetArrayLength()));
        }
        finally
        {
            Directory.Delete(tmp, true);
        }
    }
}

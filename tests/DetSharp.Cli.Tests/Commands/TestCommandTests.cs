using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace DetSharp.Cli.Tests.Commands;

/// <summary>
/// <c>detsharp test</c> (issue 7) with the slim parity checkpoint on the balloon val set, and a real train → test round trip
/// on the slim balloon config (tiny scale, one short epoch). Skipped when ../shared is absent.
/// </summary>
public sealed class TestCommandTests
{
    private const string Config = "configs/balloon/mask_rcnn_r18_slim_fpn_balloon.py";

    private const string Balloon = "datasets/balloon";
    private const string ParityCheckpoint = "fixtures/mmdet/parity/mask_rcnn_slim.pth";

    private static string[] DataOptions(string root, params string[] extra) =>
    [
        "--cfg-options",
        $"data.train.ann_file={root}/train/annotation_coco.json", $"data.train.img_prefix={root}/train/",
        $"data.val.ann_file={root}/val/annotation_coco.json", $"data.val.img_prefix={root}/val/",
        $"data.test.ann_file={root}/val/annotation_coco.json", $"data.test.img_prefix={root}/val/",
        .. extra,
    ];

    private static readonly string[] MetricNames =
        ["bbox_mAP", "bbox_mAP_50", "bbox_mAP_75", "bbox_mAP_s", "bbox_mAP_m", "bbox_mAP_l", "bbox_mAP_copypaste",
         "segm_mAP", "segm_mAP_50", "segm_mAP_75", "segm_mAP_s", "segm_mAP_m", "segm_mAP_l", "segm_mAP_copypaste"];

    [SharedFact(Balloon, ParityCheckpoint)]
    public void Test_ParityCheckpoint_PrintsMetrics_WritesEvalJson_AndFormatOnlyEvaluatesIdenticallyWithCocoEval()
    {
        string root = SharedData.FullPath(Balloon), ckpt = SharedData.FullPath(ParityCheckpoint);
        string tmp = Directory.CreateTempSubdirectory("detsharp-test-cli").FullName;
        try
        {
            var fast = DataOptions(root, "model.test_cfg.rcnn.max_per_img=30");
            var r = CliRunner.RunWithTimeout(300, ["test", Config, ckpt, "--eval", "bbox", "segm", "--work-dir", tmp, "--show-dir", Path.Combine(tmp, "show"), .. fast]);
            Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
            foreach (var name in MetricNames) Assert.Contains($"'{name}'", r.Stdout);
            Assert.Contains("13/13", r.Stdout);
            var evalJson = Directory.GetFiles(tmp, "eval_*.json").Single();
            using (var doc = JsonDocument.Parse(File.ReadAllText(evalJson)))
                Assert.Equal(MetricNames, doc.RootElement.GetProperty("metric").EnumerateObject().Select(p => p.Name));
            Assert.Equal(13, Directory.GetFiles(Path.Combine(tmp, "show")).Length);
            var copypaste = Regex.Match(r.Stdout, @"'bbox_mAP_copypaste', '([0-9. ]+)'").Groups[1].Value;
            var segmCopypaste = Regex.Match(r.Stdout, @"'segm_mAP_copypaste', '([0-9. ]+)'").Groups[1].Value;

            string prefix = Path.Combine(tmp, "fmt", "results");
            var f = CliRunner.RunWithTimeout(300, ["test", Config, ckpt, "--format-only", "--eval-options", $"jsonfile_prefix={prefix}", .. fast]);
            Assert.True(f.ExitCode == 0, f.Stdout + f.Stderr);
            Assert.True(File.Exists(prefix + ".bbox.json"));
            Assert.True(File.Exists(prefix + ".segm.json"));
            foreach (var (file, iouType, expected) in new[] { (prefix + ".bbox.json", "bbox", copypaste), (prefix + ".segm.json", "segm", segmCopypaste) })
            {
                var e = CliRunner.Run("coco-eval", $"{root}/val/annotation_coco.json", file, "--iou-type", iouType, "--json");
                Assert.True(e.ExitCode == 0, e.Stdout + e.Stderr);
                using var doc = JsonDocument.Parse(e.Stdout);
                var stats = doc.RootElement.GetProperty("stats").EnumerateArray().Take(6).Select(v => v.GetDouble().ToString("F3", CultureInfo.InvariantCulture));
                Assert.Equal(expected, string.Join(' ', stats));
            }
        }
        finally
        {
            Directory.Delete(tmp, true);
        }
    }

    [SharedFact(Balloon)]
    public void TrainThenTest_RoundTrip_WritesRunFiles_AndMetricsAreInUnitRange()
    {
        string root = SharedData.FullPath(Balloon);
        string tmp = Directory.CreateTempSubdirectory("detsharp-train-test").FullName;
        try
        {
            string work = Path.Combine(tmp, "work");
            var tiny = DataOptions(root, "runner.max_epochs=1", "data.samples_per_gpu=8", "data.train.pipeline.2.img_scale=[(128,96)]",
                "data.val.pipeline.1.img_scale=(128,96)", "data.test.pipeline.1.img_scale=(128,96)", "log_config.interval=2",
                "model.test_cfg.rcnn.max_per_img=20");
            var t = CliRunner.RunWithTimeout(600, ["train", Config, "--work-dir", work, .. tiny]);
            Assert.True(t.ExitCode == 0, t.Stdout + t.Stderr);
            var files = Directory.GetFileSystemEntries(work).Select(Path.GetFileName).ToList();
            Assert.Contains("mask_rcnn_r18_slim_fpn_balloon.py", files);
            Assert.Contains("epoch_1.pth", files);
            Assert.Contains("latest.pth", files);
            var log = Assert.Single(files, n => Regex.IsMatch(n!, @"^\d{8}_\d{6}\.log$"));
            var logJson = Assert.Single(files, n => Regex.IsMatch(n!, @"^\d{8}_\d{6}\.log\.json$"));
            var lines = File.ReadAllLines(Path.Combine(work, logJson!));
            using (var meta = JsonDocument.Parse(lines[0]))
                Assert.Equal(["env_info", "config", "seed", "exp_name"], meta.RootElement.EnumerateObject().Select(p => p.Name));
            using (var train = JsonDocument.Parse(lines[1]))
            {
                var keys = train.RootElement.EnumerateObject().Select(p => p.Name).ToList();
                Assert.Equal(["mode", "epoch", "iter", "lr"], keys.Take(4));
                Assert.Equal("time", keys[^1]);
                Assert.True(keys.IndexOf("data_time") < keys.IndexOf("loss_rpn_cls"));
            }
            var val = lines.Single(l => l.Contains("\"mode\": \"val\"", StringComparison.Ordinal));
            Assert.Contains("bbox_mAP_copypaste", val);
            Assert.Contains("Epoch(val) [1][13]", File.ReadAllText(Path.Combine(work, log!)));

            var r = CliRunner.RunWithTimeout(300, ["test", Config, Path.Combine(work, "latest.pth"), "--eval", "bbox", "segm", "--work-dir", work, .. tiny]);
            Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
            using var evalDoc = JsonDocument.Parse(File.ReadAllText(Directory.GetFiles(work, "eval_*.json").Single()));
            foreach (var p in evalDoc.RootElement.GetProperty("metric").EnumerateObject())
            {
                if (p.Name.EndsWith("copypaste", StringComparison.Ordinal)) continue;
                double v = p.Value.GetDouble();
                Assert.True(v is >= 0 and <= 1 || v == -1, $"{p.Name} = {v}");
            }
        }
        finally
        {
            Directory.Delete(tmp, true);
        }
    }
}

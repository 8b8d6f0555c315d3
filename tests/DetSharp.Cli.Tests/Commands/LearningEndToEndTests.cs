using System.Globalization;
using System.Text.Json;
using DetSharp.Demo;

namespace DetSharp.Cli.Tests.Commands;

/// <summary>
/// Issue 10: the model learns. A tiny synthetic shapes dataset from the demo's generator (fixed seed) goes through the
/// real CLI — <c>convert via2coco</c>, <c>train</c> the slim Mask R-CNN of <c>configs/demo</c>, <c>test --eval bbox segm</c> —
/// and both mAPs must clear thresholds that an untrained model, or one with a broken assigner, box coder, mask
/// target or loss, does not reach. Runs on a CPU in about two minutes; needs nothing downloaded.
/// </summary>
public sealed class LearningEndToEndTests
{
    private const string Config = "configs/demo/mask_rcnn_r18_slim_fpn_demo.py";

    // PROVISIONAL thresholds, not yet calibrated: the one run so far stopped at iteration ~280 with libtorch's
    // "Expected false to be true ... toFloat" (an intermittent crash seen in several from-scratch runs, losses and
    // grad_norm normal). For scale: the demo (160 images, 960 iterations) reached bbox 0.223 / segm 0.280 and an
    // untrained model finds nothing (mAP 0). Calibrate from 2-3 runs, then drop the opt-in below.
    private const double MinBboxMap = BboxThreshold;
    private const double MinSegmMap = SegmThreshold;
    internal const double BboxThreshold = 0.30;
    internal const double SegmThreshold = 0.30;

    [LearningFact]
    public void SlimMaskRcnnLearnsTheSyntheticShapes()
    {
        string tmp = Directory.CreateTempSubdirectory("detsharp-e2e").FullName;
        try
        {
            var (train, val) = SyntheticShapes.Generate(Path.Combine(tmp, "data"),
                new SyntheticShapesOptions { Seed = 7, TrainImages = 48, ValImages = 16, Width = 192, Height = 144 });
            foreach (var split in new[] { train, val })
            {
                var conv = CliRunner.Run(["convert", "via2coco", split.ViaJson, "-o", Path.Combine(split.Dir, "annotation_coco.json"),
                    "--category-attribute", SyntheticShapes.CategoryAttribute, "--classes", .. SyntheticShapes.Classes]);
                Assert.True(conv.ExitCode == 0, conv.Stdout + conv.Stderr);
            }
            string[] options =
            [
                "--cfg-options",
                $"data.train.ann_file={train.Dir}/annotation_coco.json", $"data.train.img_prefix={train.Dir}/",
                $"data.test.ann_file={val.Dir}/annotation_coco.json", $"data.test.img_prefix={val.Dir}/",
                "data.train.pipeline.2.img_scale=[(192,128),(192,144),(192,160)]", "data.test.pipeline.1.img_scale=(192,144)",
                "runner.max_epochs=24", "lr_config.step=[18]", "checkpoint_config.interval=24",
            ];
            string work = Path.Combine(tmp, "work");
            // One libtorch thread: on a 2-core machine shared with anything else, two threads spin against each other
            // (3.7 s/iter instead of 0.1 measured).
            var env = new Dictionary<string, string> { ["OMP_NUM_THREADS"] = "1" };
            var t = CliRunner.RunWithEnvironment(600, env, ["train", Config, "--work-dir", work, "--seed", "0", "--no-validate", .. options]);
            Assert.True(t.ExitCode == 0, t.Stdout[Math.Max(0, t.Stdout.Length - 3000)..] + t.Stderr);

            var e = CliRunner.RunWithEnvironment(300, env, ["test", Config, Path.Combine(work, "latest.pth"), "--eval", "bbox", "segm", "--work-dir", work, .. options]);
            Assert.True(e.ExitCode == 0, e.Stdout + e.Stderr);
            string evalJson = Directory.GetFiles(work, "eval_*.json").Single();
            using var doc = JsonDocument.Parse(File.ReadAllText(evalJson));
            var metric = doc.RootElement.GetProperty("metric");
            double bbox = metric.GetProperty("bbox_mAP").GetDouble(), segm = metric.GetProperty("segm_mAP").GetDouble();
            string seen = string.Create(CultureInfo.InvariantCulture, $"bbox_mAP {bbox:F3}, segm_mAP {segm:F3}");
            Console.WriteLine("e2e learning: " + seen);
            Assert.True(bbox >= MinBboxMap, $"the slim Mask R-CNN did not learn the boxes: {seen} (need bbox_mAP >= {MinBboxMap})");
            Assert.True(segm >= MinSegmMap, $"the slim Mask R-CNN did not learn the masks: {seen} (need segm_mAP >= {MinSegmMap})");
        }
        finally
        {
            try { Directory.Delete(tmp, recursive: true); } catch (IOException) { }
        }
    }
}

/// <summary>Runs only with DETSHARP_E2E=1 until the intermittent libtorch crash in long CPU training runs is fixed.</summary>
public sealed class LearningFactAttribute : FactAttribute
{
    public LearningFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("DETSHARP_E2E") != "1")
            Skip = "set DETSHARP_E2E=1: the learning test is opt-in until the intermittent libtorch 'toFloat' crash in from-scratch CPU training is fixed (see LearningEndToEndTests)";
    }
}

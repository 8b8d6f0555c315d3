using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using DetSharp.Apis;
using DetSharp.Cli.Demo;
using Xunit.Abstractions;

namespace DetSharp.Cli.Tests.Commands;

/// <summary>
/// Issue 10: the models learn. A tiny synthetic shapes dataset from the demo's generator (fixed seed) goes through the
/// real CLI — <c>convert via2coco</c>, <c>train</c> a demo config, <c>test --eval bbox segm</c> — and both mAPs must
/// clear thresholds that a model with a broken RPN loss, RoI box loss, mask loss, assigner or box coder does not reach.
/// Runs on a CPU in a minute or two per model with the ImageNet ResNet-18 that the build restores from NuGet.
/// </summary>
/// <remarks>
/// Calibration (Mask R-CNN, 144 iterations, OMP_NUM_THREADS=1, the same bbox/segm mAP on repeated runs): intact
/// 0.641 / 0.686; RPN classification loss zeroed 0.426 / 0.502; RPN box loss zeroed 0.397 / 0.471; RoI box loss zeroed
/// 0.394 / 0.604; mask loss zeroed 0.639 / 0.138; positives assigned below pos_iou_thr instead of above 0.007 / 0.000;
/// box coder encoding dy as dx and dx as dy 0.250 / 0.388.
/// The thresholds sit about 0.1 below the intact run and at least 0.09 above every broken one on one of the two metrics.
/// Testing with only 20 RPN proposals makes the RPN's ranking and regression matter: with 1,000 proposals that tile the
/// small images, an RPN trained without its classification loss still scored 0.516 / 0.611.
/// </remarks>
public sealed class LearningEndToEndTests(ITestOutputHelper output)
{
    private const string MaskRcnnConfig = "configs/demo/mask_rcnn_r18_fpn64_imagenet_demo.py";
    private const string CascadeConfig = "configs/demo/cascade_mask_rcnn_r18_augfpn_autoaug_demo.py";
    private const string RetinaNetConfig = "configs/demo/retinanet_r18_fpn64_imagenet_demo.py";
    private const string FcosConfig = "configs/demo/fcos_r18_fpn64_imagenet_demo.py";

    private const double MaskRcnnMinBbox = 0.52;
    private const double MaskRcnnMinSegm = 0.58;
    // Cascade + AugFPN + AutoAugment scored 0.478 / 0.585 with the same data and schedule (Rotate/Translate make the
    // short schedule harder); the components it shares with Mask R-CNN are checked by the tighter test above.
    private const double CascadeMinBbox = 0.38;
    private const double CascadeMinSegm = 0.48;
    // RetinaNet (focal loss, no RoI stage) on the 12-epoch schedule at lr 0.01, calibration: intact 0.222; focal loss × 0
    // 0.000; box loss × 0 0.085; MaxIoUAssigner positives below pos_iou_thr instead of above 0.070; coder encoding dy as
    // dx and dx as dy 0.120. (lr 0.005 gave 0.140 and lr 0.02 0.094, where the focal loss spikes: its classification leaves
    // the 0.01 prior slowly.) The generated data and the init repeat exactly in any test order (see SyntheticShapesTests).
    private const double RetinaNetMinBbox = 0.17;
    // FCOS, same schedule: intact 0.231; focal loss × 0 0.000; IoU loss × 0 0.000; points assigned to the GTs that do NOT
    // contain them: loss_bbox NaN in the first iteration (training stops); centerness loss × 0 0.184, which this bar lets
    // through — it only reorders the scores, and a bar between 0.184 and 0.231 would leave no margin for other CPUs.
    private const double FcosMinBbox = 0.15;

    /// <summary>
    /// Also issue 24: the trained model exported by <c>export onnx</c> and tested through ONNX Runtime
    /// (<c>test --backend onnxruntime</c>) gives libtorch's bbox and segm metrics to the third decimal and the same results
    /// (<see cref="ResultsComparison"/>: the same kept set on every image, boxes within 1e-2 px, scores within 1e-4, mask
    /// IoU ≥ 0.99). The 192 × 144 images pad to 160 × 192 in both backends (the export's default input size).
    /// </summary>
    [Fact]
    public void MaskRcnnLearnsTheSyntheticShapes_AndOnnxRuntimeTestsItAsLibtorch()
    {
        var (bbox, segm) = TrainAndTest(MaskRcnnConfig, resizeStep: 2, trainScales: "[(192,128),(192,144),(192,160)]", withMasks: true, TwoStageTestOptions,
            (trained, libtorch) => AssertOnnxRuntimeTestsAsLibtorch(MaskRcnnConfig, trained, libtorch));
        AssertLearned("Mask R-CNN", bbox, segm, MaskRcnnMinBbox, MaskRcnnMinSegm);
    }

    /// <summary>A trained model and its libtorch test: the checkpoint, --cfg-options, environment and work dir.</summary>
    private sealed record Trained(string Checkpoint, string[] Options, IReadOnlyDictionary<string, string> Environment, string WorkDir);

    /// <summary>The libtorch test's console output and its <c>--out</c> results file.</summary>
    private sealed record LibtorchTest(string Stdout, string Results);

    private void AssertOnnxRuntimeTestsAsLibtorch(string config, Trained trained, LibtorchTest libtorch)
    {
        string onnx = Path.Combine(trained.WorkDir, "model.onnx"), ortResults = Path.Combine(trained.WorkDir, "onnxruntime.json");
        var export = CliRunner.RunWithEnvironment(300, trained.Environment, ["export", "onnx", config, trained.Checkpoint, "-o", onnx, .. trained.Options]);
        Assert.True(export.ExitCode == 0, export.Stdout + export.Stderr);
        Assert.Contains("input 1 x 3 x 160 x 192", export.Stdout, StringComparison.Ordinal);
        var ort = CliRunner.RunWithEnvironment(300, trained.Environment,
            ["test", config, onnx, "--backend", "onnxruntime", "--eval", "bbox", "segm", "--out", ortResults, .. trained.Options]);
        Assert.True(ort.ExitCode == 0, ort.Stdout + ort.Stderr);

        foreach (var metric in new[] { "bbox", "segm" })
        {
            string expected = Copypaste(libtorch.Stdout, metric), actual = Copypaste(ort.Stdout, metric);
            output.WriteLine($"{metric} mAP (mAP, 50, 75, s, m, l): libtorch {expected}, onnxruntime {actual}");
            Assert.Equal(expected, actual);
        }
        var comparison = ResultsComparison.Compare(libtorch.Results, ortResults);
        var report = new StringWriter();
        comparison.Write(report);
        output.WriteLine(report.ToString());
        Assert.Equal(16, comparison.Images.Count);
        Assert.True(comparison.Images.Sum(i => i.Expected) > 50, report.ToString());
        Assert.True(comparison.Agree, report.ToString());

        // The graph takes the preprocessing it was exported with: a test set preprocessed otherwise is refused, saying so.
        var other = CliRunner.RunWithEnvironment(300, trained.Environment,
            ["test", config, onnx, "--backend", "onnxruntime", "--eval", "bbox", .. trained.Options, "data.test.pipeline.1.img_scale=(160,120)"]);
        Assert.NotEqual(0, other.ExitCode);
        Assert.Contains("was exported with data.test.pipeline", other.Stderr, StringComparison.Ordinal);
        // Its post-processing is in the graph too: a changed test_cfg would silently not apply, so it is refused as well.
        var threshold = CliRunner.RunWithEnvironment(300, trained.Environment,
            ["test", config, onnx, "--backend", "onnxruntime", "--eval", "bbox", .. trained.Options, "model.test_cfg.rcnn.score_thr=0.5"]);
        Assert.NotEqual(0, threshold.ExitCode);
        Assert.Contains("was exported with model.test_cfg", threshold.Stderr, StringComparison.Ordinal);
    }

    private static string Copypaste(string stdout, string metric) =>
        Regex.Match(stdout, $@"'{metric}_mAP_copypaste', '([-0-9. ]+)'") is { Success: true } m ? m.Groups[1].Value.Trim()
            : throw new Xunit.Sdk.XunitException($"no {metric}_mAP_copypaste in:\n{stdout}");

    [Fact]
    public void CascadeMaskRcnnWithAugFpnAndAutoAugmentLearns()
    {
        var (bbox, segm) = TrainAndTest(CascadeConfig, resizeStep: 3, trainScales: "[(192,120),(192,168)]", withMasks: true, TwoStageTestOptions);
        AssertLearned("Cascade Mask R-CNN + AugFPN", bbox, segm, CascadeMinBbox, CascadeMinSegm);
    }

    [Fact]
    public void RetinaNetLearnsTheSyntheticShapes()
    {
        // Focal loss starts every anchor at the 0.01 prior and RetinaNet's classification takes longer to leave it than an
        // RPN + RoI head does: twice the schedule (288 iterations) is what lifts its scores above score_thr.
        var (bbox, _) = TrainAndTest(RetinaNetConfig, resizeStep: 2, trainScales: "[(192,128),(192,144),(192,160)]", withMasks: false,
            ["runner.max_epochs=12", "lr_config.step=[10]", "checkpoint_config.interval=12"]);
        string seen = string.Create(CultureInfo.InvariantCulture, $"bbox_mAP {bbox:F3}");
        output.WriteLine($"e2e learning, RetinaNet: {seen}");
        Assert.True(bbox >= RetinaNetMinBbox, $"RetinaNet did not learn the boxes: {seen} (need bbox_mAP >= {RetinaNetMinBbox})");
    }

    [Fact]
    public void FcosLearnsTheSyntheticShapes()
    {
        var (bbox, _) = TrainAndTest(FcosConfig, resizeStep: 2, trainScales: "[(192,128),(192,144),(192,160)]", withMasks: false,
            ["runner.max_epochs=12", "lr_config.step=[10]", "checkpoint_config.interval=12"]);
        string seen = string.Create(CultureInfo.InvariantCulture, $"bbox_mAP {bbox:F3}");
        output.WriteLine($"e2e learning, FCOS: {seen}");
        Assert.True(bbox >= FcosMinBbox, $"FCOS did not learn the boxes: {seen} (need bbox_mAP >= {FcosMinBbox})");
    }

    /// <summary>Only 20 RPN proposals at test time, so the RPN's ranking and regression matter (see the remarks).</summary>
    private static readonly string[] TwoStageTestOptions = ["model.test_cfg.rpn.nms_pre=200", "model.test_cfg.rpn.max_per_img=20"];

    private void AssertLearned(string model, double bbox, double segm, double minBbox, double minSegm)
    {
        string seen = string.Create(CultureInfo.InvariantCulture, $"bbox_mAP {bbox:F3}, segm_mAP {segm:F3}");
        output.WriteLine($"e2e learning, {model}: {seen}");
        Assert.True(bbox >= minBbox, $"{model} did not learn the boxes: {seen} (need bbox_mAP >= {minBbox})");
        Assert.True(segm >= minSegm, $"{model} did not learn the masks: {seen} (need segm_mAP >= {minSegm})");
    }

    /// <param name="resizeStep">Index of the Resize step in the config's train pipeline.</param>
    /// <param name="trainScales">Its img_scale for the small images here (the config's multiscale mode applies).</param>
    /// <param name="withMasks">Evaluate segm as well as bbox.</param>
    /// <param name="modelOptions">Further --cfg-options of the model family.</param>
    /// <param name="thenTest">Further checks of the trained model and its libtorch test, before the files are deleted.</param>
    /// <returns>bbox_mAP, and segm_mAP with masks (NaN otherwise).</returns>
    private static (double Bbox, double Segm) TrainAndTest(string config, int resizeStep, string trainScales, bool withMasks, string[] modelOptions,
        Action<Trained, LibtorchTest>? thenTest = null)
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
                $"data.train.pipeline.{resizeStep}.img_scale={trainScales}", "data.test.pipeline.1.img_scale=(192,144)",
                "runner.max_epochs=6", "lr_config.step=[5]", "lr_config.warmup_iters=50", "checkpoint_config.interval=6",
                .. modelOptions,
            ];
            string work = Path.Combine(tmp, "work");
            // One libtorch thread: on a 2-core machine shared with anything else, two threads spin against each other
            // (3.7 s/iter instead of 0.1 measured), and one thread makes the run repeat exactly.
            var env = new Dictionary<string, string> { ["OMP_NUM_THREADS"] = "1" };
            var t = CliRunner.RunWithEnvironment(600, env, ["train", config, "--work-dir", work, "--seed", "0", "--no-validate", .. options]);
            Assert.True(t.ExitCode == 0, t.Stdout[Math.Max(0, t.Stdout.Length - 3000)..] + t.Stderr);

            string[] metrics = withMasks ? ["bbox", "segm"] : ["bbox"];
            string results = Path.Combine(work, "results.json");
            var e = CliRunner.RunWithEnvironment(300, env, ["test", config, Path.Combine(work, "latest.pth"), "--eval", .. metrics, "--work-dir", work, "--out", results, .. options]);
            Assert.True(e.ExitCode == 0, e.Stdout + e.Stderr);
            thenTest?.Invoke(new Trained(Path.Combine(work, "latest.pth"), options, env, work), new LibtorchTest(e.Stdout, results));
            string evalJson = Directory.GetFiles(work, "eval_*.json").Single();
            using var doc = JsonDocument.Parse(File.ReadAllText(evalJson));
            var metric = doc.RootElement.GetProperty("metric");
            // A model that detects nothing above score_thr leaves the metrics empty (pycocotools: "The testing results of the
            // whole dataset is empty."): that is an mAP of 0, and the test fails on its threshold, not on a missing key.
            return (Metric(metric, "bbox_mAP"), withMasks ? Metric(metric, "segm_mAP") : double.NaN);
        }
        finally
        {
            try { Directory.Delete(tmp, recursive: true); } catch (IOException) { }
        }
    }

    private static double Metric(JsonElement metrics, string name) => metrics.TryGetProperty(name, out var v) ? v.GetDouble() : 0;
}

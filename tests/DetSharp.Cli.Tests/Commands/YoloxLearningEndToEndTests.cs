using System.Globalization;
using DetSharp.Apis;
using DetSharp.Cli.Demo;
using DetSharp.Config;
using DetSharp.Converters;
using DetSharp.Engine.Hooks;
using DetSharp.Models.TaskModules;
using DetSharp.Registry;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DetSharp.Cli.Tests.Commands;

/// <summary>
/// Issue 22: YOLOX learns. The synthetic shapes of <see cref="LearningEndToEndTests"/> (the demo's generator, seed 7,
/// 48 train / 16 val images of 192×144) train a scaled-down YOLOX through the training and test APIs that
/// <c>detsharp train</c> / <c>test</c> call — in this process, so that a test-only subclass can break SimOTA on purpose —,
/// and the training loss must fall and the val bbox mAP clear a bar that a model with a broken assignment or without its
/// objectness loss does not reach.
/// </summary>
/// <remarks>
/// Calibration (2026-12-03, seed 0, data seed 7, 144 iterations at batch 4, one libtorch thread; each figure is
/// bbox_mAP / the mean loss of the last 12 iterations over the first 12):
/// intact 0.240 / 0.436; SimOTA's positives moved to random priors (<see cref="RandomSimOTAAssigner"/>) 0.000 / 0.918;
/// loss_obj × 0 0.001 / 0.762. The bars (0.15, 0.6) sit 0.09 below / 0.16 above the intact run and far from every broken
/// one. <c>DETSHARP_E2E_CALIBRATION=1</c> runs the broken cases as tests that must stay below the bars.
/// The recipe was found the same way (intact bbox_mAP): YOLOX-tiny's CSPDarknet from scratch (yolox_tiny_demo.py, widen
/// 0.25) 0.000 with or without gradient clipping; the ImageNet ResNet-18 with the RetinaNet demo's clipping (max_norm
/// 10) at lr 0.01 0.056; without clipping at lr 0.01 0.000 (scores under 0.01), at lr 0.02 0.237 with score_thr 0.01
/// and 0.240 with 0.001 (the same training: last/first 0.436 in both). 6.5-8.6 minutes per run on the 2 cores loaded by other work (load average 24-34; not measured quiet).
/// </remarks>
[Collection(InProcessTrainingCollection.Name)]
public sealed class YoloxLearningEndToEndTests(ITestOutputHelper output)
{
    private const string Config = "configs/demo/yolox_r18_imagenet_demo.py";
    private const double MinBbox = 0.15;
    private const double MaxLossRatio = 0.6;

    [Fact]
    public void YoloxLearnsTheSyntheticShapes()
    {
        var (bbox, ratio) = TrainAndTest(Broken.Nothing);
        string seen = Seen(bbox, ratio);
        Assert.True(ratio <= MaxLossRatio, $"YOLOX's training loss did not fall: {seen} (need last/first <= {MaxLossRatio})");
        Assert.True(bbox >= MinBbox, $"YOLOX did not learn the boxes: {seen} (need bbox_mAP >= {MinBbox})");
    }

    /// <summary>The calibration runs behind the bar (the remarks' figures): each broken model must stay below it.</summary>
    [CalibrationTheory]
    [InlineData(Broken.Assignment)]
    [InlineData(Broken.ObjectnessLoss)]
    public void BrokenYoloxStaysBelowTheBar(Broken broken)
    {
        var (bbox, ratio) = TrainAndTest(broken);
        Assert.True(bbox < MinBbox || ratio > MaxLossRatio,
            $"YOLOX with its {broken} broken still cleared both bars: {Seen(bbox, ratio)} (bars bbox_mAP {MinBbox}, last/first {MaxLossRatio})");
    }

    private static string Seen(double bbox, double ratio) => string.Create(CultureInfo.InvariantCulture, $"bbox_mAP {bbox:F3}, loss last/first {ratio:F3}");

    /// <returns>val bbox_mAP, and the mean total loss of the last 12 iterations over that of the first 12.</returns>
    private (double Bbox, double LossRatio) TrainAndTest(Broken broken)
    {
        string tmp = Directory.CreateTempSubdirectory("detsharp-e2e-yolox").FullName;
        int threads = get_num_threads();
        try
        {
            var (train, val) = SyntheticShapes.Generate(Path.Combine(tmp, "data"),
                new SyntheticShapesOptions { Seed = 7, TrainImages = 48, ValImages = 16, Width = 192, Height = 144 });
            foreach (var split in new[] { train, val })
            {
                ViaToCoco.Convert(new ViaToCocoOptions
                {
                    ViaJson = split.ViaJson, Output = Path.Combine(split.Dir, "annotation_coco.json"), ImageDir = split.Dir,
                    CategoryAttribute = SyntheticShapes.CategoryAttribute, Classes = SyntheticShapes.Classes,
                });
            }
            List<string> options =
            [
                $"data.train.ann_file={train.Dir}/annotation_coco.json", $"data.train.img_prefix={train.Dir}/",
                $"data.test.ann_file={val.Dir}/annotation_coco.json", $"data.test.img_prefix={val.Dir}/",
                "data.train.pipeline.2.img_scale=(192,192)", "data.test.pipeline.1.img_scale=(192,192)",
                "model.input_size=(192,192)", "model.random_size_range=(5,7)",
                "runner.max_epochs=12", "lr_config.step=[10]", "lr_config.warmup_iters=50", "checkpoint_config.interval=12",
                // YOLOX's test-phase threshold (its configs keep 0.01 for val): the score is cls × objectness, and a short run's
                // scores straddle 0.01, which made the mAP jump between 0 and 0.24 with the lr (see the remarks).
                "model.test_cfg.score_thr=0.001",
            ];
            ComponentRegistration.EnsureRegistered();
            if (broken == Broken.Assignment)
            {
                Registries.TaskModules.Register<RandomSimOTAAssigner>(force: true);
                options.Add($"model.train_cfg.assigner.type={nameof(RandomSimOTAAssigner)}");
            }
            if (broken == Broken.ObjectnessLoss)
                options.AddRange(["model.bbox_head.loss_obj.type=CrossEntropyLoss", "model.bbox_head.loss_obj.use_sigmoid=True",
                    "model.bbox_head.loss_obj.reduction=sum", "model.bbox_head.loss_obj.loss_weight=0.0"]);
            var cfg = ConfigTools.Load(Path.Combine(RepoPaths.Root, Config), options);
            string work = Path.Combine(tmp, "work");
            // One libtorch thread, as the CLI learning tests' OMP_NUM_THREADS=1: the run repeats exactly.
            set_num_threads(1);
            var losses = new LossRecorder();
            TrainDetector.Train(cfg, new TrainOptions { WorkDir = work, Seed = 0, NoValidate = true, Progress = losses });
            string checkpoint = Path.Combine(work, "latest.pth"), results = Path.Combine(work, "libtorch.json");
            var metrics = TestDetector.Run(cfg, new TestOptions { Checkpoint = checkpoint, Eval = ["bbox"], Out = results });
            double bbox = BboxMap(metrics);
            double ratio = losses.LastOverFirst(12);
            output.WriteLine($"e2e learning, YOLOX, {broken} broken: {Seen(bbox, ratio)}");
            if (broken == Broken.Nothing)
            {
                AssertOnnxRuntimeTestsAsLibtorch(cfg, checkpoint, work, bbox, results, skipPostprocess: false);
                AssertOnnxRuntimeTestsAsLibtorch(cfg, checkpoint, work, bbox, results, skipPostprocess: true);
            }
            return (bbox, ratio);
        }
        finally
        {
            set_num_threads(threads);
            try { Directory.Delete(tmp, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>No detection above score_thr leaves the metrics empty (pycocotools' "results is empty"): an mAP of 0.</summary>
    private static double BboxMap(OrderedDictionary<string, object>? metrics) =>
        metrics is not null && metrics.TryGetValue("bbox_mAP", out var v) ? Convert.ToDouble(v, CultureInfo.InvariantCulture) : 0;

    /// <summary>
    /// Issue 24: the trained YOLOX exported (dynamic input size; the whole get_bboxes in the graph, or with
    /// <paramref name="skipPostprocess"/> the head's raw maps decoded by the runtime) and tested through ONNX Runtime gives
    /// libtorch's bbox mAP to the third decimal and the same kept set on every val image (<see cref="ResultsComparison"/>:
    /// boxes within 1e-2 px, scores within 1e-4).
    /// </summary>
    private void AssertOnnxRuntimeTestsAsLibtorch(Config.Config cfg, string checkpoint, string work, double libtorchBbox, string libtorchResults,
        bool skipPostprocess)
    {
        string name = skipPostprocess ? "raw" : "full", onnx = Path.Combine(work, $"yolox_{name}.onnx"), results = Path.Combine(work, $"onnxruntime_{name}.json");
        OnnxExport.ExportDynamic(cfg, checkpoint, onnx, skipPostprocess: skipPostprocess);
        double bbox = BboxMap(TestDetector.Run(cfg, new TestOptions { Checkpoint = onnx, Backend = "onnxruntime", Eval = ["bbox"], Out = results }));
        var comparison = ResultsComparison.Compare(libtorchResults, results);
        var report = new StringWriter();
        comparison.Write(report);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ONNX Runtime ({name}): bbox_mAP {bbox:F3} (libtorch {libtorchBbox:F3})\n{report}"));
        Assert.Equal(Math.Round(libtorchBbox, 3), Math.Round(bbox, 3));
        Assert.Equal(16, comparison.Images.Count);
        Assert.True(comparison.Images.Sum(i => i.Expected) > 16, report.ToString());
        Assert.True(comparison.Agree, report.ToString());
    }

    /// <summary>The total loss of every iteration, recorded on the training thread (no synchronization context).</summary>
    private sealed class LossRecorder : IProgress<TrainingProgress>
    {
        private readonly List<double> _totals = [];

        public void Report(TrainingProgress value) => _totals.Add(value.Losses.Where(kv => kv.Key == "loss").Select(kv => kv.Value).Single());

        public double LastOverFirst(int n) => _totals.Count < 2 * n
            ? throw new InvalidOperationException($"only {_totals.Count} iterations were recorded")
            : _totals[^n..].Average() / _totals[..n].Average();
    }
}

/// <summary>What the YOLOX learning test breaks on purpose.</summary>
public enum Broken
{
    Nothing,
    /// <summary>SimOTA's positives moved to random priors (<see cref="RandomSimOTAAssigner"/>).</summary>
    Assignment,
    /// <summary><c>loss_obj</c> weighted 0.</summary>
    ObjectnessLoss,
}

/// <summary>
/// A broken SimOTA for calibration: SimOTA's assignment with its rows shuffled over the priors by a seeded permutation —
/// as many positives, each with its GT, label and IoU, but at random places of the image.
/// </summary>
public sealed class RandomSimOTAAssigner(double centerRadius = 2.5, int candidateTopk = 10, double iouWeight = 3.0, double clsWeight = 1.0)
    : SimOTAAssigner(centerRadius, candidateTopk, iouWeight, clsWeight)
{
    private readonly Generator _generator = new Generator().manual_seed(0);

    public override AssignResult Assign(Tensor predScores, Tensor priors, Tensor decodedBboxes, Tensor gtBboxes, Tensor gtLabels, double eps = 1e-7)
    {
        using var scope = NewDisposeScope();
        var result = base.Assign(predScores, priors, decodedBboxes, gtBboxes, gtLabels, eps);
        var perm = randperm(result.GtInds.shape[0], generator: _generator);
        return new AssignResult(result.NumGts, result.GtInds[perm], result.MaxOverlaps[perm], result.Labels?[perm]).MoveToOuterDisposeScope();
    }
}

/// <summary>In-process training runs draw from torch's global generator and set its thread count: one at a time, alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class InProcessTrainingCollection
{
    public const string Name = "in-process training";
}

/// <summary>A [Theory] that runs only when <c>DETSHARP_E2E_CALIBRATION=1</c>: the calibration runs are too long for every CI run.</summary>
internal sealed class CalibrationTheoryAttribute : TheoryAttribute
{
    public CalibrationTheoryAttribute()
    {
        if (Environment.GetEnvironmentVariable("DETSHARP_E2E_CALIBRATION") != "1")
            Skip = "calibration runs of the e2e learning tests: set DETSHARP_E2E_CALIBRATION=1 to run them";
    }
}

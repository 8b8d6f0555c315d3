using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using DetSharp.Analysis;
using DetSharp.Apis;
using DetSharp.Benchmarks;
using DetSharp.Cli.Demo;
using DetSharp.Config;
using DetSharp.Converters;

namespace DetSharp.Cli.Commands;

/// <summary>
/// <c>detsharp demo</c>: the whole workflow on a fresh machine with nothing downloaded. Generates a synthetic
/// VIA 2.x dataset, converts it as <c>convert via2coco</c>, trains the demo Mask R-CNN as <c>train</c>, evaluates
/// bbox and segm as <c>test --eval bbox segm --show-dir</c> and plots the curves as <c>analyze-logs plot-curve</c>.
/// </summary>
internal static class DemoCommand
{
    /// <summary>The loss curves the demo plots: the total and Mask R-CNN's five terms (those a model logs).</summary>
    private static readonly string[] LossKeys = ["loss", "loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "loss_bbox", "loss_mask", "loss_obj"];

    private static readonly string[] MapKeys = ["bbox_mAP", "segm_mAP"];

    public const string DefaultConfig = "configs/demo/mask_rcnn_r18_fpn64_imagenet_demo.py";

    public static Command Create()
    {
        var outDir = new Option<string>("--out-dir") { Description = "Where the dataset, work dir, pictures and curves go.", DefaultValueFactory = _ => "work_dirs/demo" };
        var minutes = new Option<double>("--minutes") { Description = "Training time budget; the number of epochs is fitted to it from a short timing.", DefaultValueFactory = _ => 5 };
        var seed = new Option<int>("--seed") { Description = "Seed of the generated dataset and of training.", DefaultValueFactory = _ => 0 };
        var config = new Option<string>("--config") { Description = "Model config (its classes must be the generator's).", DefaultValueFactory = _ => DefaultConfig };
        var trainImages = new Option<int>("--train-images") { Description = "Images in the generated train split.", DefaultValueFactory = _ => 160 };
        var valImages = new Option<int>("--val-images") { Description = "Images in the generated val split.", DefaultValueFactory = _ => 40 };
        var command = new Command("demo", "Generate a synthetic shapes dataset (VIA), convert it to COCO, fine-tune Mask R-CNN (ImageNet ResNet-18) on the CPU, evaluate it, draw its detections and plot its curves.")
        {
            outDir, minutes, seed, config, trainImages, valImages,
        };
        command.SetAction(parse => Run(parse.GetValue(outDir)!, parse.GetValue(minutes), parse.GetValue(seed), parse.GetValue(config)!,
            parse.GetValue(trainImages), parse.GetValue(valImages)));
        return command;
    }

    /// <summary>Training iterations timed (after <see cref="DemoSchedule.WarmupTimingIters"/> untimed ones) to fit the schedule.</summary>
    private const int TimedIters = 6;

    private static string FindConfig(string path)
    {
        if (File.Exists(path) || Path.IsPathRooted(path)) return path;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, path))) return Path.Combine(dir.FullName, path);
        return path; // ConfigTools.Load says it is missing
    }

    private static int Run(string outDir, double minutes, int seed, string configPath, int trainImages, int valImages)
    {
        if (minutes <= 0) throw new DetSharpException("--minutes must be positive.");
        if (trainImages < 2 || valImages < 1) throw new DetSharpException("--train-images must be at least 2 and --val-images at least 1.");
        var total = Stopwatch.StartNew();
        var c = Console.Out;
        string root = Path.GetFullPath(outDir);
        string data = Path.Combine(root, "data"), work = Path.Combine(root, "work_dir"), show = Path.Combine(root, "show");
        Directory.CreateDirectory(root);

        c.WriteLine($"[1/5] generating the synthetic shapes dataset (seed {seed}) in {data}");
        var (train, val) = SyntheticShapes.Generate(data, new SyntheticShapesOptions { Seed = seed, TrainImages = trainImages, ValImages = valImages });
        c.WriteLine($"      train: {train.Images} images, {train.Objects} objects; val: {val.Images} images, {val.Objects} objects ({string.Join(", ", SyntheticShapes.Classes)})");

        c.WriteLine("[2/5] converting VIA to COCO (convert via2coco --category-attribute shape)");
        foreach (var split in new[] { train, val })
        {
            string outJson = Path.Combine(split.Dir, "annotation_coco.json");
            var s = ViaToCoco.Convert(new ViaToCocoOptions
            {
                ViaJson = split.ViaJson, Output = outJson, Classes = SyntheticShapes.Classes, CategoryAttribute = SyntheticShapes.CategoryAttribute,
            });
            c.WriteLine($"      wrote {outJson}: {s.Images} images, {s.Annotations} annotations");
        }

        string[] dataOptions =
        [
            $"data.train.ann_file={train.Dir}/annotation_coco.json", $"data.train.img_prefix={train.Dir}/",
            $"data.val.ann_file={val.Dir}/annotation_coco.json", $"data.val.img_prefix={val.Dir}/",
            $"data.test.ann_file={val.Dir}/annotation_coco.json", $"data.test.img_prefix={val.Dir}/",
        ];
        configPath = FindConfig(configPath);
        var probe = ConfigTools.Load(configPath, dataOptions);
        int batch = probe.Get<int>("data.samples_per_gpu");
        int itersPerEpoch = (train.Images + batch - 1) / batch;
        c.WriteLine($"[3/5] timing {configPath} for a few iterations to fit the schedule to {minutes.ToString(CultureInfo.InvariantCulture)} min");
        // The built-in warm-up iteration plus the first timed ones are dropped; the median of the rest is the estimate.
        var timing = TrainBenchmark.Run(probe, TimedIters + DemoSchedule.WarmupTimingIters - 1, TextWriter.Null, seed);
        double secondsPerIter = DemoSchedule.Median([.. timing.IterSeconds.Skip(DemoSchedule.WarmupTimingIters - 1)]);
        double budget = minutes * 60 - (total.Elapsed.TotalSeconds + 15);
        var plan = DemoSchedule.Fit(secondsPerIter, itersPerEpoch, val.Images, budget, probe.Get("evaluation.interval", 1), probe.Get("lr_config.warmup_iters", 500));
        c.WriteLine($"      {secondsPerIter:F2} s/iter (median of {TimedIters} after {DemoSchedule.WarmupTimingIters} warm-up), {itersPerEpoch} iters/epoch: "
                    + $"{plan.Epochs} epochs, lr step at epoch {plan.LrStep}, evaluation after epochs "
                    + string.Join(", ", Enumerable.Range(0, (plan.Epochs - plan.EvalStart) / plan.EvalInterval + 1).Select(k => plan.EvalStart + k * plan.EvalInterval)));
        if (plan.OverBudget)
            c.WriteLine($"      this machine is slower than {minutes.ToString(CultureInfo.InvariantCulture)} min allow: training the minimum of {plan.Epochs} epochs anyway "
                        + $"(about {plan.EstimatedSeconds / 60:F0} min), so the demo ends with a trained, evaluated model");
        // A log line every few iterations even on a tiny dataset, so the loss curves have points.
        int logInterval = Math.Clamp(itersPerEpoch / 2, 1, probe.Get("log_config.interval", 10));

        var cfg = ConfigTools.Load(configPath, [.. dataOptions, $"runner.max_epochs={plan.Epochs}", $"lr_config.step=[{plan.LrStep}]",
            $"lr_config.warmup_iters={plan.WarmupIters}", $"evaluation.start={plan.EvalStart}", $"log_config.interval={logInterval}"]);
        int epochs = plan.Epochs;
        foreach (var warning in cfg.Warnings) Console.Error.WriteLine($"warning: {warning}");
        var trainWatch = Stopwatch.StartNew();
        TrainDetector.Train(cfg, new TrainOptions { WorkDir = work, Seed = seed, Console = c, Interactive = !Console.IsOutputRedirected });
        double trainSeconds = trainWatch.Elapsed.TotalSeconds;

        // The config's own evaluation metrics (what its EvalHook computes during training): a boxes-only detector
        // (RetinaNet, FCOS, YOLOX) has no segm results, and MMDetection refuses --eval segm for it.
        string[] evalMetrics = EvalMetrics(cfg);
        c.WriteLine($"[4/5] testing on the val split (test --eval {string.Join(' ', evalMetrics)} --show-dir)");
        var metrics = TestDetector.Run(cfg, new TestOptions
        {
            Checkpoint = Path.Combine(work, "latest.pth"), Eval = evalMetrics, WorkDir = work, ShowDir = show,
            Console = c, Interactive = !Console.IsOutputRedirected,
        }) ?? new OrderedDictionary<string, object>();

        c.WriteLine("[5/5] plotting the curves (analyze-logs plot-curve)");
        string logJson = Directory.GetFiles(work, "*.log.json").OrderBy(f => f, StringComparer.Ordinal).Last();
        var log = JsonTrainingLog.Load(logJson);
        string lossPng = Path.Combine(root, "loss_curves.png"), mapPng = Path.Combine(root, "map_curves.png");
        // Plot what the log holds: a metric that was never logged is left out (and said), it does not stop the demo.
        Plot(log, LossKeys, "demo: training losses", lossPng, c);
        Plot(log, MapKeys, "demo: val mAP per epoch", mapPng, c);

        // No detection at all (far too short a run) leaves the metrics empty: that is an mAP of 0.
        double bbox = metrics.TryGetValue("bbox_mAP", out var b) ? Convert.ToDouble(b, CultureInfo.InvariantCulture) : 0;
        double segm = metrics.TryGetValue("segm_mAP", out var m) ? Convert.ToDouble(m, CultureInfo.InvariantCulture) : 0;
        string segmText = evalMetrics.Contains("segm") ? $", segm mAP {segm:F3}" : "";
        c.WriteLine();
        c.WriteLine($"Demo finished in {total.Elapsed.TotalMinutes:F1} min (training {trainSeconds / 60:F1} min, {epochs} epochs): " +
                    $"bbox mAP {bbox:F3}{segmText} on {val.Images} val images.");
        c.WriteLine($"  dataset (VIA + COCO):  {data}/{{train,val}}");
        c.WriteLine($"  config, logs, ckpts:   {work} (latest.pth, *.log, *.log.json, eval_*.json)");
        c.WriteLine($"  detections drawn:      {show} ({val.Images} pictures)");
        c.WriteLine($"  curves:                {lossPng}, {mapPng}");
        c.WriteLine($"  try: detsharp infer {configPath} {work}/latest.pth {val.Dir}/val_0000.jpg --out-dir {root}/infer");
        return 0;
    }

    /// <summary>The config's <c>evaluation.metric</c> (a name or a list), bbox and segm when it has none.</summary>
    private static string[] EvalMetrics(Config.Config cfg) => cfg.Dict.TryGet<object>("evaluation.metric", out var metric) ? metric switch
    {
        string one => [one],
        IEnumerable<object?> many => [.. many.Select(v => v as string ?? throw new DetSharpException($"evaluation.metric entries must be names, got {v}."))],
        _ => throw new DetSharpException("evaluation.metric must be a name or a list of names, e.g. ['bbox', 'segm']."),
    } : ["bbox", "segm"];

    private static void Plot(JsonTrainingLog log, string[] metrics, string title, string png, TextWriter c)
    {
        var curves = LogAnalysis.CurvesPresent(log, metrics);
        var absent = metrics.Where(m => curves.All(k => k.Label != m)).ToList();
        if (absent.Count > 0) c.WriteLine($"      {Path.GetFileName(png)}: {string.Join(", ", absent)} not in the log, left out");
        if (curves.Count > 0) CurvePlot.Save(curves, title, png, 900, 500);
        else c.WriteLine($"      {Path.GetFileName(png)}: nothing to plot, skipped");
    }
}

using System.CommandLine;
using System.Text.Json;
using DetSharp.Benchmarks;
using TorchSharp;

namespace DetSharp.Cli.Commands;

/// <summary><c>detsharp benchmark</c>: speed measurements (never unit tests), each against a baseline run in the same process.</summary>
internal static class BenchmarkCommand
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    private static Option<bool> ProfileOption() => new("--profile")
    {
        Description = "Also print where the timed iterations' time went: backbone, neck, heads, targets, losses, backward, optimizer, data, GC (own time per section).",
    };

    public static Command Create()
    {
        var command = new Command("benchmark", "Measure speed against baselines in the same run.");
        command.Subcommands.Add(Ops());
        command.Subcommands.Add(Train());
        command.Subcommands.Add(Infer());
        return command;
    }

    private static Command Infer()
    {
        var config = new Argument<string>("config") { Description = "Config file (its test pipeline and model)." };
        var checkpoint = new Argument<string?>("checkpoint") { Description = "Checkpoint; without one the model has random weights.", Arity = ArgumentArity.ZeroOrOne };
        var images = new Option<int>("--images") { Description = "Timed images (MMDetection's benchmark uses 2000).", DefaultValueFactory = _ => 20 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed images first.", DefaultValueFactory = _ => 2 };
        var inputs = new Option<string[]>("--inputs")
        {
            Description = "Image files, folders or globs; default: the images of data.test.",
            AllowMultipleArgumentsPerToken = true,
        };
        var device = new Option<string>("--device") { Description = "cpu or cuda[:N].", DefaultValueFactory = _ => "cpu" };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON." };
        var profile = ProfileOption();
        var command = new Command("infer", "Time inference of a config: images/s, ms/image and peak RSS (MMDetection's benchmark.py).")
        {
            config, checkpoint, images, warmup, inputs, device, json, profile, CommonOptions.FuseConvBn, CommonOptions.CfgOptions,
        };
        command.SetAction(parse =>
        {
            using var detector = DetSharp.Apis.Detector.FromConfig(parse.GetValue(config)!, parse.GetValue(checkpoint), parse.GetValue(device)!,
                parse.GetValue(CommonOptions.CfgOptions));
            if (parse.GetValue(CommonOptions.FuseConvBn)) Console.Error.WriteLine($"--fuse-conv-bn: {detector.FuseConvBn()} BatchNorms folded into their convs");
            var files = parse.GetValue(inputs) is { Length: > 0 } given ? InferCommand.ExpandInputs(given) : TestImages(detector.Config);
            bool asJson = parse.GetValue(json);
            var r = InferBenchmark.Run(detector, files, parse.GetValue(images), parse.GetValue(warmup), asJson ? TextWriter.Null : Console.Out,
                parse.GetValue(profile));
            if (asJson)
            {
                Console.WriteLine(JsonSerializer.Serialize(r, Indented));
                return 0;
            }
            Console.WriteLine(FormattableString.Invariant(
                $"{r.Images} images: {r.Fps:F2} img/s, {r.MsPerImage:F0} ms/img, {r.MeanDetections:F1} detections/img, peak RSS {r.PeakRssBytes / (1024.0 * 1024.0):F0} MiB ({Environment.ProcessorCount} cores, torch threads {torch.get_num_threads()})"));
            r.Profile?.Write(Console.Out, "image");
            return 0;
        });
        return command;
    }

    /// <summary>The image files of the config's <c>data.test</c> (img_prefix joined with each file name).</summary>
    private static List<string> TestImages(DetSharp.Config.Config cfg)
    {
        string annFile = cfg.Get<string>("data.test.ann_file");
        string prefix = cfg.Get("data.test.img_prefix", "");
        var gt = DetSharp.Evaluation.CocoApi.Load(annFile);
        return gt.Images.Where(i => i.FileName is not null).Select(i => Path.Combine(prefix, i.FileName!)).ToList();
    }

    private static Command Train()
    {
        var config = new Argument<string>("config") { Description = "Train config file." };
        var iters = new Option<int>("--iters") { Description = "Timed iterations (after one warm-up iteration).", DefaultValueFactory = _ => 10 };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON." };
        var profile = ProfileOption();
        var command = new Command("train", "Time the training loop of a config: s/iter, data_time and peak RSS.") { config, iters, json, profile, CommonOptions.CfgOptions };
        command.SetAction(parse =>
        {
            var cfg = CommonOptions.LoadConfig(parse.GetValue(config)!, parse.GetValue(CommonOptions.CfgOptions));
            bool asJson = parse.GetValue(json);
            var r = TrainBenchmark.Run(cfg, parse.GetValue(iters), asJson ? TextWriter.Null : Console.Out, profile: parse.GetValue(profile));
            if (asJson)
            {
                Console.WriteLine(JsonSerializer.Serialize(r, Indented));
                return 0;
            }
            Console.WriteLine(FormattableString.Invariant(
                $"{r.Iters} iters: {r.SecondsPerIter:F3} s/iter, data_time {r.DataTime:F3} s/iter, peak RSS {r.PeakRssBytes / (1024.0 * 1024.0):F0} MiB, last loss {r.LastLoss:F4}"));
            r.Profile?.Write(Console.Out, "iter");
            return 0;
        });
        return command;
    }

    private static Command Ops()
    {
        var reps = new Option<int>("--reps") { Description = "Timed runs per case (the median is reported).", DefaultValueFactory = _ => 5 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed warm-up runs per case.", DefaultValueFactory = _ => 1 };
        var filter = new Option<string?>("--filter") { Description = "Only cases whose name contains this text, e.g. 'NMS' or 'RoIAlign 7x7'." };
        var json = new Option<bool>("--json") { Description = "Print the results as JSON instead of a table." };
        var command = new Command("ops", "RoIAlign, NMS and bbox_overlaps against TorchVision.NET and a grid_sample RoIAlign.")
        {
            reps, warmup, filter, json,
        };
        command.SetAction(parse =>
        {
            if (parse.GetValue(reps) < 1) throw new DetSharpException("--reps must be at least 1.");
            var baselines = new OpsBaselines(
                "TorchVision.NET nms", (boxes, scores, thr) => torchvision.ops.nms(boxes, scores, thr),
                "TorchVision.NET box_iou", (a, b) => torchvision.ops.box_iou(a, b));
            var options = new OpsBenchmarkOptions(parse.GetValue(reps), parse.GetValue(warmup), parse.GetValue(filter), baselines);
            bool asJson = parse.GetValue(json);
            var results = OpsBenchmark.Run(asJson ? TextWriter.Null : Console.Out, options);
            if (asJson)
            {
                var rows = results.Select(r => new { r.Case, r.Baseline, DetSharpMs = r.DetSharpMs, BaselineMs = r.BaselineMs, r.Speedup });
                Console.WriteLine(JsonSerializer.Serialize(rows, Indented));
            }
            return 0;
        });
        return command;
    }
}

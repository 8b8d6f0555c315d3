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
        var checkpoint = new Argument<string?>("checkpoint")
        {
            Description = "Checkpoint; without one the model has random weights. With --backend onnxruntime: the .onnx from `detsharp export onnx`.",
            Arity = ArgumentArity.ZeroOrOne,
        };
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
        var backend = CommonOptions.Backend();
        var compareOnnx = new Option<string?>("--compare-onnx")
        {
            Description = "Also time this .onnx (`detsharp export onnx` of CONFIG and CHECKPOINT) in ONNX Runtime, alternating with libtorch image by image "
                          + "on the same images; prints both times per image and the ratio.",
        };
        var ortThreads = new Option<int?>("--ort-threads")
        {
            Description = "ONNX Runtime's intra-op threads (default: libtorch's, torch.get_num_threads()); the nodes run sequentially (inter-op 1).",
        };
        var command = new Command("infer", "Time inference of a config: images/s, ms/image and peak RSS (MMDetection's benchmark.py); "
                                           + "--backend onnxruntime times an exported model, --compare-onnx libtorch against ONNX Runtime in one run.")
        {
            config, checkpoint, images, warmup, inputs, device, json, profile, backend, compareOnnx, ortThreads, CommonOptions.FuseConvBn, CommonOptions.CfgOptions,
        };
        command.SetAction(parse =>
        {
            string? onnx = parse.GetValue(compareOnnx);
            bool asJson = parse.GetValue(json);
            if (onnx is not null && parse.GetValue(backend) != "libtorch")
                throw new DetSharpException("--compare-onnx times libtorch (CONFIG and CHECKPOINT) against the .onnx it names: leave --backend out.");
            if (onnx is not null && parse.GetValue(profile))
                throw new DetSharpException("--profile times the libtorch model's sections; ONNX Runtime's graph has none: leave --profile or --compare-onnx out.");
            if (parse.GetValue(backend) == "onnxruntime" && parse.GetValue(checkpoint) is null)
                throw new DetSharpException("--backend onnxruntime: give the .onnx from `detsharp export onnx` as CHECKPOINT.");
            using var detector = parse.GetValue(backend) == "onnxruntime"
                ? CommonOptions.OpenDetector("onnxruntime", parse.GetValue(config)!, parse.GetValue(checkpoint)!, parse.GetValue(device)!,
                    parse.GetValue(CommonOptions.CfgOptions), parse.GetValue(ortThreads))
                : DetSharp.Apis.Detector.FromConfig(parse.GetValue(config)!, parse.GetValue(checkpoint), parse.GetValue(device)!, parse.GetValue(CommonOptions.CfgOptions));
            if (parse.GetValue(CommonOptions.FuseConvBn)) Console.Error.WriteLine($"--fuse-conv-bn: {detector.FuseConvBn()} BatchNorms folded into their convs");
            var files = parse.GetValue(inputs) is { Length: > 0 } given ? InferCommand.ExpandInputs(given) : TestImages(detector.Config);
            var log = asJson ? TextWriter.Null : Console.Out;
            if (onnx is not null)
            {
                using var ort = DetSharp.Apis.Detector.FromOnnx(onnx, parse.GetValue(device)!, parse.GetValue(ortThreads));
                // Both must preprocess alike for the times to compare.
                ort.RequireExportedTestSettings(detector.Config, onnx);
                var c = InferBenchmark.Compare(detector, ort, files, parse.GetValue(images), parse.GetValue(warmup), log);
                if (asJson)
                {
                    Console.WriteLine(JsonSerializer.Serialize(new { Libtorch = c.First, OnnxRuntime = c.Second, OnnxRuntimeOverLibtorch = c.Ratio }, Indented));
                    return 0;
                }
                Console.WriteLine(Line(c.First));
                Console.WriteLine(Line(c.Second));
                Console.WriteLine(FormattableString.Invariant($"onnxruntime / libtorch time per image: {c.Ratio:F2} (alternating image by image in one run)"));
                return 0;
            }
            var r = InferBenchmark.Run(detector, files, parse.GetValue(images), parse.GetValue(warmup), log, parse.GetValue(profile));
            if (asJson)
            {
                Console.WriteLine(JsonSerializer.Serialize(r, Indented));
                return 0;
            }
            Console.WriteLine(Line(r));
            r.Profile?.Write(Console.Out, "image");
            return 0;
        });
        return command;
    }

    private static string Line(InferBenchmarkResult r) => FormattableString.Invariant(
        $"{r.Backend}: {r.Images} images: {r.Fps:F2} img/s, {r.MsPerImage:F0} ms/img, {r.MeanDetections:F1} detections/img, peak RSS {r.PeakRssBytes / (1024.0 * 1024.0):F0} MiB ({Environment.ProcessorCount} cores, ")
        + (r.OrtIntraOpThreads is { } intra ? FormattableString.Invariant($"ONNX Runtime intra-op threads {intra}, inter-op {r.OrtInterOpThreads})") : FormattableString.Invariant($"torch threads {torch.get_num_threads()})"));

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

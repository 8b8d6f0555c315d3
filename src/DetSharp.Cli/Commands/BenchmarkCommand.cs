using System.CommandLine;
using System.Text.Json;
using DetSharp.Benchmarks;
using TorchSharp;

namespace DetSharp.Cli.Commands;

/// <summary><c>detsharp benchmark</c>: speed measurements (never unit tests), each against a baseline run in the same process.</summary>
internal static class BenchmarkCommand
{
    public static Command Create()
    {
        var command = new Command("benchmark", "Measure speed against baselines in the same run.");
        command.Subcommands.Add(Ops());
        command.Subcommands.Add(Train());
        return command;
    }

    private static Command Train()
    {
        var config = new Argument<string>("config") { Description = "Train config file." };
        var iters = new Option<int>("--iters") { Description = "Timed iterations (after one warm-up iteration).", DefaultValueFactory = _ => 10 };
        var command = new Command("train", "Time the training loop of a config: s/iter, data_time and peak RSS.") { config, iters, CommonOptions.CfgOptions };
        command.SetAction(parse =>
        {
            var cfg = CommonOptions.LoadConfig(parse.GetValue(config)!, parse.GetValue(CommonOptions.CfgOptions));
            var r = DetSharp.Apis.TrainBenchmark.Run(cfg, parse.GetValue(iters), Console.Out);
            Console.WriteLine(FormattableString.Invariant(
                $"{r.Iters} iters: {r.SecondsPerIter:F3} s/iter, data_time {r.DataTime:F3} s/iter, peak RSS {r.PeakRssBytes / (1024.0 * 1024.0):F0} MiB, last loss {r.LastLoss:F4}"));
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
                Console.WriteLine(JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true }));
            }
            return 0;
        });
        return command;
    }
}

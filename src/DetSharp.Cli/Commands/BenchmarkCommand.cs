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

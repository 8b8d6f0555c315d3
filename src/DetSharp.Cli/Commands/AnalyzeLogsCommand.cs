using System.CommandLine;
using System.Globalization;
using DetSharp.Analysis;

namespace DetSharp.Cli.Commands;

/// <summary><c>detsharp analyze-logs</c>: MMDetection's tools/analysis_tools/analyze_logs.py.</summary>
internal static class AnalyzeLogsCommand
{
    public static Command Create()
    {
        var command = new Command("analyze-logs", "Plot curves from .log.json training logs, or compute training time (ours or MMDetection's).");
        command.Subcommands.Add(PlotCurve());
        command.Subcommands.Add(CalTrainTime());
        return command;
    }

    private static Command PlotCurve()
    {
        var logs = new Argument<string[]>("json-logs") { Description = "One or more .log.json files.", Arity = ArgumentArity.OneOrMore };
        var keys = new Option<string[]>("--keys")
        {
            Description = "Metrics to plot (mAP metrics per epoch from val records, others per iteration).",
            AllowMultipleArgumentsPerToken = true,
            DefaultValueFactory = _ => ["bbox_mAP"],
        };
        var legend = new Option<string[]>("--legend") { Description = "One label per log and key.", AllowMultipleArgumentsPerToken = true };
        var title = new Option<string?>("--title") { Description = "Plot title." };
        var evalInterval = new Option<int>("--eval-interval") { Description = "Evaluation interval in epochs (where to look for mAP keys).", DefaultValueFactory = _ => 1 };
        var output = new Option<string>("--out") { Description = "Output PNG file.", Required = true };
        var width = new Option<int>("--width") { DefaultValueFactory = _ => 1000, Description = "Image width in pixels." };
        var height = new Option<int>("--height") { DefaultValueFactory = _ => 600, Description = "Image height in pixels." };
        var command = new Command("plot-curve", "Plot training curves to a PNG.") { logs, keys, legend, title, evalInterval, output, width, height };
        command.SetAction(parse =>
        {
            var files = parse.GetValue(logs)!;
            var metrics = parse.GetValue(keys)!;
            var labels = parse.GetValue(legend);
            if (labels is { Length: > 0 } && labels.Length != files.Length * metrics.Length)
                throw new DetSharpException($"--legend has {labels.Length} labels, but {files.Length} logs × {metrics.Length} keys need {files.Length * metrics.Length}.");
            var curves = new List<Curve>();
            for (int i = 0; i < files.Length; i++)
            {
                var log = JsonTrainingLog.Load(files[i]);
                for (int j = 0; j < metrics.Length; j++)
                {
                    string label = labels is { Length: > 0 } ? labels[i * metrics.Length + j] : $"{files[i]}_{metrics[j]}";
                    Console.WriteLine($"plot curve of {files[i]}, metric is {metrics[j]}");
                    curves.Add(LogAnalysis.Curve(log, metrics[j], label, parse.GetValue(evalInterval)));
                }
            }
            CurvePlot.Save(curves, parse.GetValue(title), parse.GetValue(output)!, parse.GetValue(width), parse.GetValue(height));
            Console.WriteLine($"saved {parse.GetValue(output)}");
            return 0;
        });
        return command;
    }

    private static Command CalTrainTime()
    {
        var logs = new Argument<string[]>("json-logs") { Description = "One or more .log.json files.", Arity = ArgumentArity.OneOrMore };
        var outliers = new Option<bool>("--include-outliers") { Description = "Keep the first iteration record of each epoch." };
        var command = new Command("cal-train-time", "Slowest/fastest epoch and mean seconds per iteration.") { logs, outliers };
        command.SetAction(parse =>
        {
            foreach (var file in parse.GetValue(logs)!)
            {
                var summary = LogAnalysis.CalTrainTime(JsonTrainingLog.Load(file), parse.GetValue(outliers));
                var c = CultureInfo.InvariantCulture;
                Console.WriteLine($"-----Analyze train time of {file}-----");
                Console.WriteLine(string.Format(c, "slowest epoch {0}, average time is {1:F4}", summary.SlowestEpoch, summary.SlowestEpochTime));
                Console.WriteLine(string.Format(c, "fastest epoch {0}, average time is {1:F4}", summary.FastestEpoch, summary.FastestEpochTime));
                Console.WriteLine(string.Format(c, "time std over epochs is {0:F4}", summary.StdOverEpochs));
                Console.WriteLine(string.Format(c, "average iter time: {0:F4} s/iter", summary.MeanIterTime));
                Console.WriteLine();
            }
            return 0;
        });
        return command;
    }
}

using System.CommandLine;
using System.Text.Json;
using DetSharp.Evaluation;

namespace DetSharp.Cli.Commands;

/// <summary>
/// <c>detsharp coco-eval GT.json RESULTS.json</c>: pycocotools' COCOeval (default params) on a results file.
/// Pure DetSharp.Core: libtorch is never loaded.
/// </summary>
internal static class CocoEvalCommand
{
    public static Command Create()
    {
        var gtArg = new Argument<string>("gt") { Description = "COCO annotation file (ground truth)." };
        var resultsArg = new Argument<string>("results") { Description = "COCO results file: [{image_id, category_id, bbox, score, segmentation}, ...]." };
        var iouType = new Option<string>("--iou-type") { Description = "What to compare: bbox or segm.", DefaultValueFactory = _ => "bbox" };
        iouType.AcceptOnlyFromAmong("bbox", "segm");
        var classwise = new Option<bool>("--classwise") { Description = "Also print per-category AP (MMDetection's table)." };
        var json = new Option<bool>("--json") { Description = "Print the stats as JSON instead of the text summary." };
        var command = new Command("coco-eval", "Evaluate COCO-format detections against a COCO ground truth, exactly as pycocotools' COCOeval.")
        {
            gtArg, resultsArg, iouType, classwise, json,
        };
        command.SetAction(parse =>
        {
            var result = Run(parse.GetValue(gtArg)!, parse.GetValue(resultsArg)!,
                parse.GetValue(iouType) == "segm" ? CocoIouType.Segm : CocoIouType.Bbox, parse.GetValue(classwise), parse.GetValue(json));
            Console.Out.Write(result);
            return 0;
        });
        return command;
    }

    /// <summary>Runs the evaluation and returns what the verb prints.</summary>
    internal static string Run(string gtPath, string resultsPath, CocoIouType iouType, bool classwise, bool asJson)
    {
        var gt = CocoApi.Load(gtPath);
        var dt = CocoResults.Load(resultsPath, gt);
        var eval = new CocoEval(gt, dt, iouType);
        var stats = eval.Run();
        if (asJson)
        {
            var names = new[] { "AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large", "AR_1", "AR_10", "AR_100", "AR_small", "AR_medium", "AR_large" };
            using var stream = new MemoryStream();
            using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
            {
                w.WriteStartObject();
                w.WriteString("iou_type", iouType == CocoIouType.Segm ? "segm" : "bbox");
                w.WriteStartArray("stats");
                foreach (var s in stats) w.WriteNumberValue(s);
                w.WriteEndArray();
                w.WriteStartObject("named");
                for (int i = 0; i < names.Length; i++) w.WriteNumber(names[i], stats[i]);
                w.WriteEndObject();
                if (classwise)
                {
                    var catNames = gt.Categories.GroupBy(c => c.Id).ToDictionary(g => g.Key, g => g.First().Name);
                    w.WriteStartArray("classwise");
                    foreach (var (catId, ap) in eval.PerCategoryAp())
                    {
                        w.WriteStartObject();
                        w.WriteNumber("category_id", catId);
                        w.WriteString("name", catNames.GetValueOrDefault(catId, ""));
                        if (double.IsNaN(ap)) w.WriteNull("AP"); else w.WriteNumber("AP", ap);
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                }
                w.WriteEndObject();
            }
            return System.Text.Encoding.UTF8.GetString(stream.ToArray()) + "\n";
        }
        var text = eval.SummaryText;
        if (classwise) text += CocoMetric.ClasswiseTable(gt, eval) + "\n";
        return text;
    }
}

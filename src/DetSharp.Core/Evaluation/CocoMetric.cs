using System.Text;

namespace DetSharp.Evaluation;

/// <summary>Options of MMDetection 2.x <c>CocoDataset.evaluate</c>.</summary>
public sealed record CocoMetricOptions
{
    /// <summary><c>bbox</c>, <c>segm</c> and/or <c>proposal</c>.</summary>
    public IReadOnlyList<string> Metrics { get; init; } = ["bbox"];
    public bool Classwise { get; init; }
    public IReadOnlyList<int> ProposalNums { get; init; } = [100, 300, 1000];
    /// <summary>null = <c>np.linspace(.5, 0.95, 10)</c>.</summary>
    public double[]? IouThrs { get; init; }
    /// <summary>null = the default items of each metric; otherwise names from <see cref="CocoMetric.MetricNames"/>.</summary>
    public IReadOnlyList<string>? MetricItems { get; init; }
    /// <summary>Category ids (MMDetection's <c>cat_ids</c>); null = every ground-truth category.</summary>
    public IReadOnlyList<long>? CatIds { get; init; }
}

/// <summary>Ordered metrics (<c>bbox_mAP</c>: double, <c>bbox_mAP_copypaste</c>: string, ...) and the log MMDetection prints.</summary>
public sealed record CocoMetricResults(OrderedDictionary<string, object> Values, string Log);

/// <summary>
/// MMDetection 2.x COCO evaluation on top of <see cref="CocoEval"/>: <c>maxDets = proposal_nums</c>, 3-decimal
/// metrics (<c>float(f'{v:.3f}')</c>), the copypaste string, the classwise table, and segm results with their
/// <c>bbox</c> removed (as MMDetection ≥ 2.12 does, so mask areas decide small/medium/large).
/// </summary>
public static class CocoMetric
{
    /// <summary>MMDetection's <c>coco_metric_names</c>: item → index into the 12 stats.</summary>
    public static readonly IReadOnlyDictionary<string, int> MetricNames = new Dictionary<string, int>
    {
        ["mAP"] = 0, ["mAP_50"] = 1, ["mAP_75"] = 2, ["mAP_s"] = 3, ["mAP_m"] = 4, ["mAP_l"] = 5,
        ["AR@100"] = 6, ["AR@300"] = 7, ["AR@1000"] = 8, ["AR_s@1000"] = 9, ["AR_m@1000"] = 10, ["AR_l@1000"] = 11,
    };

    /// <summary>Evaluates result files (metric → COCO results JSON path, e.g. <c>{"bbox": "x.bbox.json"}</c>).</summary>
    public static CocoMetricResults Evaluate(CocoApi groundTruth, IReadOnlyDictionary<string, string> resultFiles, CocoMetricOptions options) =>
        Evaluate(groundTruth, options, (key, dropBbox) =>
            resultFiles.TryGetValue(key, out var path) ? CocoResults.Load(path, groundTruth, dropBbox)
                : throw new DetSharpException($"{key} is not in results: no '{key}' result file was given."));

    /// <summary>
    /// Evaluates detections in memory (metric → entries, e.g. <c>{"bbox": [...], "segm": [...]}</c>): the numbers of
    /// writing them with <see cref="CocoResultsWriter"/> and evaluating the files, without the files.
    /// </summary>
    public static CocoMetricResults Evaluate(CocoApi groundTruth, IReadOnlyDictionary<string, IReadOnlyList<CocoDetection>> results, CocoMetricOptions options) =>
        Evaluate(groundTruth, options, (key, dropBbox) =>
            results.TryGetValue(key, out var detections) ? CocoResults.FromDetections(detections, groundTruth, dropBbox)
                : throw new DetSharpException($"{key} is not in results: the results have no '{key}' entries."));

    /// <summary>The evaluation itself; <paramref name="loadResults"/> gives the results of a key ("bbox", "segm") as pycocotools' loadRes.</summary>
    private static CocoMetricResults Evaluate(CocoApi groundTruth, CocoMetricOptions options, Func<string, bool, CocoApi> loadResults)
    {
        foreach (var metric in options.Metrics)
            if (metric is not ("bbox" or "segm" or "proposal"))
                throw new DetSharpException($"metric '{metric}' is not supported; use bbox, segm or proposal.");
        if (options.MetricItems != null)
            foreach (var item in options.MetricItems)
                if (!MetricNames.ContainsKey(item))
                    throw new DetSharpException($"metric item '{item}' is not supported; use one of {string.Join(", ", MetricNames.Keys)}.");
        var values = new OrderedDictionary<string, object>();
        var log = new StringBuilder();
        foreach (var metric in options.Metrics)
        {
            log.Append("Evaluating ").Append(metric).Append("...\n");
            var iouType = metric == "segm" ? CocoIouType.Segm : CocoIouType.Bbox;
            string key = metric == "proposal" ? "bbox" : metric;
            var detections = loadResults(key, iouType == CocoIouType.Segm);
            if (detections.Annotations.Count == 0)
            {
                log.Append("The testing results of the whole dataset is empty.\n");
                break;
            }
            var eval = new CocoEval(groundTruth, detections, iouType);
            eval.Params.CatIds = options.CatIds;
            eval.Params.MaxDets = [.. options.ProposalNums];
            if (options.IouThrs != null) eval.Params.IouThrs = options.IouThrs;
            if (metric == "proposal") eval.Params.UseCats = false;
            var stats = eval.Run();
            log.Append('\n').Append(eval.SummaryText);
            if (metric == "proposal")
            {
                foreach (var item in options.MetricItems ?? ["AR@100", "AR@300", "AR@1000", "AR_s@1000", "AR_m@1000", "AR_l@1000"])
                    values[item] = NumpyMath.RoundLikePython(stats[MetricNames[item]], 3);
                continue;
            }
            if (options.Classwise)
                log.Append('\n').Append(ClasswiseTable(groundTruth, eval)).Append('\n');
            foreach (var item in options.MetricItems ?? ["mAP", "mAP_50", "mAP_75", "mAP_s", "mAP_m", "mAP_l"])
                values[$"{metric}_{item}"] = NumpyMath.RoundLikePython(stats[MetricNames[item]], 3);
            values[$"{metric}_mAP_copypaste"] = string.Join(' ', stats.Take(6).Select(v => NumpyMath.FormatFixed(v, 3)));
        }
        return new CocoMetricResults(values, log.ToString());
    }

    /// <summary>MMDetection's classwise AP table (terminaltables <c>AsciiTable</c>, 3 category/AP pairs per row).</summary>
    public static string ClasswiseTable(CocoApi groundTruth, CocoEval eval)
    {
        var names = groundTruth.Categories.GroupBy(c => c.Id).ToDictionary(g => g.Key, g => g.First().Name);
        var flat = new List<string>();
        foreach (var (catId, ap) in eval.PerCategoryAp())
        {
            flat.Add(names.TryGetValue(catId, out var n) ? n : catId.ToString(System.Globalization.CultureInfo.InvariantCulture));
            flat.Add(double.IsNaN(ap) ? "nan" : NumpyMath.FormatFixed(ap, 3));
        }
        int columns = Math.Min(6, flat.Count);
        if (columns == 0) return "";
        var rows = new List<string[]> { Enumerable.Range(0, columns).Select(i => i % 2 == 0 ? "category" : "AP").ToArray() };
        // zip_longest(*[flat[i::columns] ...]) reads the flat list row by row, padding the last row with None
        int rowCount = (flat.Count + columns - 1) / columns;
        for (int r = 0; r < rowCount; r++)
            rows.Add(Enumerable.Range(0, columns).Select(c => r * columns + c < flat.Count ? flat[r * columns + c] : "None").ToArray());
        var widths = new int[columns];
        foreach (var row in rows) for (int c = 0; c < columns; c++) widths[c] = Math.Max(widths[c], row[c].Length);
        string border = "+" + string.Join("+", widths.Select(w => new string('-', w + 2))) + "+";
        var sb = new StringBuilder();
        sb.Append(border).Append('\n');
        for (int r = 0; r < rows.Count; r++)
        {
            sb.Append('|');
            for (int c = 0; c < columns; c++) sb.Append(' ').Append(rows[r][c].PadRight(widths[c])).Append(" |");
            sb.Append('\n');
            if (r == 0) sb.Append(border).Append('\n');
        }
        sb.Append(border);
        return sb.ToString();
    }
}

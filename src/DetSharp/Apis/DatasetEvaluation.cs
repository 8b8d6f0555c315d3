using System.Globalization;
using DetSharp.Config;
using DetSharp.Datasets;
using DetSharp.Evaluation;

namespace DetSharp.Apis;

/// <summary>
/// MMDetection's <c>CocoDataset.evaluate</c> / <c>format_results</c> on <see cref="DetectionSet"/>s.
/// <para>Thread safety: stateless; safe from any thread.</para>
/// </summary>
public static class DatasetEvaluation
{
    /// <summary>Keys of <c>cfg.evaluation</c> that belong to the EvalHook, not to <c>dataset.evaluate</c>.</summary>
    public static readonly IReadOnlySet<string> HookOnlyKeys =
        new HashSet<string> { "interval", "tmpdir", "start", "gpu_collect", "save_best", "rule", "dynamic_intervals", "by_epoch" };

    /// <summary>The metric names of an <c>evaluation.metric</c> / <c>--eval</c> value (a string or a list).</summary>
    public static List<string> Metrics(object? metric) => metric switch
    {
        null => ["bbox"],
        string s => [s],
        IEnumerable<object?> list => list.Select(m => m as string ?? throw new DetSharpException($"evaluation.metric entries must be strings, got {ConfigValue.Describe(m)}.")).ToList(),
        _ => throw new DetSharpException($"evaluation.metric must be a string or a list of strings, got {ConfigValue.Describe(metric)}."),
    };

    /// <summary>
    /// <c>dataset.evaluate(results, metric, **kwargs)</c> options from keyword arguments: <c>classwise</c>, <c>iou_thrs</c>,
    /// <c>metric_items</c>, <c>proposal_nums</c> (and <c>jsonfile_prefix</c>, returned separately).
    /// </summary>
    public static (CocoMetricOptions Options, string? JsonfilePrefix) Options(IReadOnlyList<string> metrics, IReadOnlyDictionary<string, object?> kwargs, IReadOnlyList<long> catIds)
    {
        var options = new CocoMetricOptions { Metrics = metrics, CatIds = catIds };
        string? prefix = null;
        foreach (var (key, value) in kwargs)
        {
            switch (key)
            {
                case "metric":
                    break;
                case "classwise":
                    options = options with { Classwise = value is true || (value is string s && s == "True") };
                    break;
                case "jsonfile_prefix":
                    prefix = value as string;
                    break;
                case "iou_thrs":
                    options = options with { IouThrs = Numbers(value, key).ToArray() };
                    break;
                case "proposal_nums":
                    options = options with { ProposalNums = Numbers(value, key).Select(v => (int)v).ToList() };
                    break;
                case "metric_items":
                    options = options with { MetricItems = value is string one ? [one] : Metrics(value) };
                    break;
                default:
                    throw new DetSharpException($"evaluation option '{key}' is not an argument of CocoDataset.evaluate (it accepts classwise, jsonfile_prefix, iou_thrs, proposal_nums, metric_items).");
            }
        }
        return (options, prefix);
    }

    private static IEnumerable<double> Numbers(object? value, string key) => value switch
    {
        IEnumerable<object?> list => list.Select(v => Convert.ToDouble(v, CultureInfo.InvariantCulture)),
        long or double => [Convert.ToDouble(value, CultureInfo.InvariantCulture)],
        _ => throw new DetSharpException($"evaluation option '{key}' must be a number or a list of numbers, got {ConfigValue.Describe(value)}."),
    };

    /// <summary>
    /// <see cref="CocoMetric"/> on the results held in memory: <c>bbox_mAP ... bbox_mAP_copypaste</c>, <c>segm_...</c>. With
    /// <paramref name="jsonfilePrefix"/> (<c>jsonfile_prefix</c>) the COCO results files are also written there, as
    /// MMDetection does; otherwise nothing is written.
    /// </summary>
    public static CocoMetricResults Evaluate(CocoDataset dataset, IReadOnlyList<DetectionSet> results, CocoMetricOptions options, string? jsonfilePrefix = null)
    {
        var entries = CocoResultsFormat.Results(results, dataset.ImgIds, dataset.CatIds);
        if (jsonfilePrefix is not null) CocoResultsFormat.WriteJson(entries, jsonfilePrefix);
        return CocoMetric.Evaluate(dataset.Coco, entries, options with { CatIds = dataset.CatIds });
    }
}

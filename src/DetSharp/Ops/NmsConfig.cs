using System.Globalization;

namespace DetSharp.Ops;

/// <summary>
/// MMDetection's <c>nms_cfg</c> dict, e.g. <c>dict(type='nms', iou_threshold=0.5)</c> or
/// <c>dict(type='soft_nms', iou_threshold=0.5, method='gaussian')</c>. Keys as MMDetection: <c>type</c>,
/// <c>iou_threshold</c>, <c>split_thr</c> (default 10000), <c>class_agnostic</c>, then the arguments of the mmcv op that
/// <c>type</c> names: <see cref="Nms.nms"/> takes <c>offset</c>, <c>score_threshold</c>, <c>max_num</c>;
/// <see cref="Nms.SoftNms"/> (mmcv's soft_nms) takes <c>offset</c>, <c>sigma</c> (0.5), <c>min_score</c> (1e-3) and <c>method</c>
/// ('linear', 'gaussian' or 'naive'; default 'linear'). <c>max_num</c> is also read by the split path of
/// <c>batched_nms</c> whatever the type.
/// </summary>
public sealed record NmsConfig(
    double IouThreshold,
    string Type = "nms",
    int SplitThreshold = 10000,
    bool? ClassAgnostic = null,
    int Offset = 0,
    double ScoreThreshold = 0,
    int MaxNum = -1,
    double Sigma = 0.5,
    double MinScore = 1e-3,
    string Method = "linear")
{
    /// <summary>The <c>nms_cfg</c> types DetSharp runs, as mmcv's <c>batched_nms</c> looks them up by name.</summary>
    public static IReadOnlyList<string> Types { get; } = ["nms", "soft_nms"];

    private static readonly string[] SoftNmsMethods = ["naive", "linear", "gaussian"];

    /// <summary>Builds the config from a parsed config dict (values as parsed: numbers, bools, strings).</summary>
    public static NmsConfig FromDictionary(IReadOnlyDictionary<string, object?> cfg)
    {
        ArgumentNullException.ThrowIfNull(cfg);
        string type = cfg.TryGetValue("type", out var t) ? Convert.ToString(t, CultureInfo.InvariantCulture) ?? "nms" : "nms";
        if (!Types.Contains(type))
            throw new ArgumentException($"nms_cfg: type '{type}' is not implemented; DetSharp supports type={string.Join(" or ", Types.Select(x => $"'{x}'"))}.");
        bool soft = type == "soft_nms";
        double iou = soft ? 0.3 : 0.5;
        int split = 10000, offset = 0, maxNum = -1;
        bool? classAgnostic = null;
        double scoreThr = 0, sigma = 0.5, minScore = 1e-3;
        string method = "linear";
        foreach (var (key, value) in cfg)
        {
            switch (key)
            {
                case "type": break;
                case "iou_threshold": case "iou_thr": iou = Convert.ToDouble(value, CultureInfo.InvariantCulture); break;
                case "split_thr": split = Convert.ToInt32(value, CultureInfo.InvariantCulture); break;
                case "class_agnostic": classAgnostic = Convert.ToBoolean(value, CultureInfo.InvariantCulture); break;
                case "offset": offset = Convert.ToInt32(value, CultureInfo.InvariantCulture); break;
                case "max_num": maxNum = Convert.ToInt32(value, CultureInfo.InvariantCulture); break;
                case "score_threshold" when !soft: scoreThr = Convert.ToDouble(value, CultureInfo.InvariantCulture); break;
                case "sigma" when soft: sigma = Convert.ToDouble(value, CultureInfo.InvariantCulture); break;
                case "min_score" when soft: minScore = Convert.ToDouble(value, CultureInfo.InvariantCulture); break;
                case "method" when soft: method = Convert.ToString(value, CultureInfo.InvariantCulture) ?? ""; break;
                default:
                    throw new ArgumentException(
                        $"nms_cfg: unknown key '{key}' for type='{type}'. Known keys: type, iou_threshold, split_thr, class_agnostic, offset, "
                        + (soft ? "sigma, min_score, method (and max_num with split_thr)." : "score_threshold, max_num."));
            }
        }

        var result = new NmsConfig(iou, type, split, classAgnostic, offset, scoreThr, maxNum, sigma, minScore, method);
        result.Validate();
        return result;
    }

    internal void Validate()
    {
        if (!Types.Contains(Type))
        {
            throw new ArgumentException($"nms_cfg: type '{Type}' is not implemented; DetSharp supports type={string.Join(" or ", Types.Select(x => $"'{x}'"))}.");
        }

        if (Offset is not (0 or 1))
        {
            throw new ArgumentException($"nms_cfg: offset must be 0 or 1, got {Offset}.");
        }

        if (Type == "soft_nms" && !SoftNmsMethods.Contains(Method))
        {
            throw new ArgumentException($"nms_cfg: method '{Method}' of soft_nms is not one of {string.Join(", ", SoftNmsMethods)}.");
        }
    }

    /// <summary>mmcv's method number for the soft-NMS kernel: naive 0, linear 1, gaussian 2.</summary>
    internal int SoftNmsMethod => Array.IndexOf(SoftNmsMethods, Method);
}

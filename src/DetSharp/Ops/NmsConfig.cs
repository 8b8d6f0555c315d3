using System.Globalization;

namespace DetSharp.Ops;

/// <summary>
/// MMDetection's <c>nms_cfg</c> dict, e.g. <c>dict(type='nms', iou_threshold=0.5)</c>. Keys as MMDetection:
/// <c>type</c>, <c>iou_threshold</c>, <c>split_thr</c> (default 10000), <c>class_agnostic</c>, and mmcv's nms
/// arguments <c>offset</c>, <c>score_threshold</c>, <c>max_num</c>.
/// </summary>
public sealed record NmsConfig(
    double IouThreshold,
    string Type = "nms",
    int SplitThreshold = 10000,
    bool? ClassAgnostic = null,
    int Offset = 0,
    double ScoreThreshold = 0,
    int MaxNum = -1)
{
    /// <summary>Builds the config from a parsed config dict (values as parsed: numbers, bools, strings).</summary>
    public static NmsConfig FromDictionary(IReadOnlyDictionary<string, object?> cfg)
    {
        ArgumentNullException.ThrowIfNull(cfg);
        double iou = 0.5;
        string type = "nms";
        int split = 10000, offset = 0, maxNum = -1;
        bool? classAgnostic = null;
        double scoreThr = 0;
        foreach (var (key, value) in cfg)
        {
            switch (key)
            {
                case "type": type = Convert.ToString(value, CultureInfo.InvariantCulture) ?? "nms"; break;
                case "iou_threshold": case "iou_thr": iou = Convert.ToDouble(value, CultureInfo.InvariantCulture); break;
                case "split_thr": split = Convert.ToInt32(value, CultureInfo.InvariantCulture); break;
                case "class_agnostic": classAgnostic = Convert.ToBoolean(value, CultureInfo.InvariantCulture); break;
                case "offset": offset = Convert.ToInt32(value, CultureInfo.InvariantCulture); break;
                case "score_threshold": scoreThr = Convert.ToDouble(value, CultureInfo.InvariantCulture); break;
                case "max_num": maxNum = Convert.ToInt32(value, CultureInfo.InvariantCulture); break;
                default:
                    throw new ArgumentException(
                        $"nms_cfg: unknown key '{key}'. Known keys: type, iou_threshold, split_thr, class_agnostic, offset, score_threshold, max_num.");
            }
        }

        return new NmsConfig(iou, type, split, classAgnostic, offset, scoreThr, maxNum);
    }

    internal void Validate()
    {
        if (Type != "nms")
        {
            throw new ArgumentException($"nms_cfg: type '{Type}' is not implemented; DetSharp supports type='nms'.");
        }

        if (Offset is not (0 or 1))
        {
            throw new ArgumentException($"nms_cfg: offset must be 0 or 1, got {Offset}.");
        }
    }
}

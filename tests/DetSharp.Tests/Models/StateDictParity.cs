using DetSharp.Config;
using DetSharp.Core.Tests.Parity;
using DetSharp.Models.Common;
using DetSharp.Models.Detectors;

namespace DetSharp.Tests.Models;

/// <summary>
/// A built model's <c>state_dict</c> against MMDetection 2.25's for the same config
/// (<c>fixtures/mmdet/state_dicts</c>): keys in order, shapes, and parameter counts.
/// </summary>
internal static class StateDictParity
{
    public const string Family = "state_dicts";
    public const string Dir = "fixtures/mmdet/state_dicts/";

    /// <summary>The model variants of <c>state_dict_summary.json</c>, each with its exact model config.</summary>
    public static IReadOnlyList<string> Variants()
    {
        using var summary = SharedData.LoadJson(Dir + "state_dict_summary.json");
        return summary.RootElement.EnumerateArray().Select(e => e.GetProperty("name").GetString()!).ToList();
    }

    /// <summary>Shipped configs (relative to configs/), the variant they must build and the class count to set (null: as configured).</summary>
    public static TheoryData<string, string, int?> ShippedCases => new()
    {
        { "mask_rcnn/mask_rcnn_r50_fpn_1x_coco.py", "mask_rcnn_r50_fpn_nc80", null },
        { "mask_rcnn/mask_rcnn_r50_fpn_1x_coco.py", "mask_rcnn_r50_fpn_nc8", 8 },
        { "cascade_rcnn/cascade_mask_rcnn_r50_fpn_1x_coco.py", "cascade_mask_rcnn_r50_fpn_nc8", 8 },
        { "cityscapes/mask_rcnn_r50_fpn_1x_cityscapes.py", "mask_rcnn_r50_fpn_nc8", null },
        { "balloon/mask_rcnn_r50_caffe_fpn_mstrain-poly_1x_balloon.py", "balloon_mask_rcnn_r50_caffe_fpn_nc1", null },
    };

    public static BaseDetector BuildVariant(string name) =>
        ModelFixtures.Build(ModelFixtures.ModelConfig(SharedData.FullPath(Dir + name + ".model_cfg.py")));

    /// <summary>The shipped config's model, with every bbox and mask head's <c>num_classes</c> set as the fixture was made.</summary>
    public static BaseDetector BuildShipped(string config, int? numClasses)
    {
        var model = ModelFixtures.ModelConfig(ModelFixtures.RepoConfig(config));
        if (numClasses is { } nc)
        {
            foreach (var head in new[] { "bbox_head", "mask_head" })
            {
                switch (model.Get<object>("roi_head." + head))
                {
                    case ConfigDict d: d["num_classes"] = (long)nc; break;
                    case IList<object?> list:
                        foreach (var item in list) ((ConfigDict)item!)["num_classes"] = (long)nc;
                        break;
                }
            }
        }
        return ModelFixtures.Build(model);
    }

    /// <summary>The fixture variant and where the model came from, as the parity table names it.</summary>
    public static string VariantFixtureName(string name) => $"{name} ← {name}.model_cfg.py";

    public static string ShippedFixtureName(string config, string name, int? numClasses) =>
        $"{name} ← configs/{config}{(numClasses is { } nc ? $" with num_classes={nc}" : "")}";

    /// <summary>
    /// Rows: keys in MMDetection's order (a missing, unexpected or misplaced key counts once per position), shapes at each
    /// position, and the parameter counts (total, trainable, state_dict entries).
    /// </summary>
    public static IReadOnlyList<ParityRow> Measure(TorchSharp.torch.nn.Module model, string name, string fixture)
    {
        var checks = new ParityChecks(Family, fixture);
        var expected = ModelFixtures.ReadTsv(Dir + name + ".state_dict.tsv");
        var actual = ModuleTools.StateDict(model).Select(e => (e.Key, Shape: ModuleTools.FormatShape(e.Value.shape))).ToList();
        var keys = new ExactFields().Add("key", expected.Select(e => e.Key), actual.Select(a => a.Key));
        var missing = expected.Select(e => e.Key).Except(actual.Select(a => a.Key)).Take(10).ToList();
        var extra = actual.Select(e => e.Key).Except(expected.Select(a => a.Key)).Take(10).ToList();
        checks.Count("keys, in order", keys.Mismatches, 0,
            keys.Mismatches == 0 ? "equal" : $"missing: {string.Join(", ", missing)}; unexpected: {string.Join(", ", extra)}; {keys.Describe()}");
        checks.Same("shapes", expected.Select(e => e.Shape), actual.Select(a => a.Shape));

        using var summary = SharedData.LoadJson(Dir + "state_dict_summary.json");
        var entry = summary.RootElement.EnumerateArray().First(e => e.GetProperty("name").GetString() == name);
        var (total, trainable) = ModuleTools.CountParameters(model);
        checks.Values("parameters, trainable, entries",
            [entry.GetProperty("params").GetDouble(), entry.GetProperty("trainable_params").GetDouble(), entry.GetProperty("state_dict_entries").GetDouble()],
            [total, trainable, actual.Count], Tolerance.Exact);
        return checks.Rows;
    }
}

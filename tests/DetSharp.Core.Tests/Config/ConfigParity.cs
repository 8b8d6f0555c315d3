using DetSharp.Config;
using DetSharp.Core.Tests.Parity;

namespace DetSharp.Core.Tests.Config;

/// <summary>
/// The configs we ship, merged, against mmcv's <c>Config.fromfile</c> dumps of the upstream configs
/// (<c>fixtures/mmdet/configs/*.merged_config.{json,py}</c>): the values that differ, path by path.
/// </summary>
public static class ConfigParity
{
    public const string Family = "configs";

    /// <summary>Shipped config (relative to configs/) and the fixture it must merge to.</summary>
    public static TheoryData<string, string> Pairs => new()
    {
        { "mask_rcnn/mask_rcnn_r50_fpn_1x_coco.py", "mask_rcnn_r50_fpn_1x_coco" },
        { "cascade_rcnn/cascade_mask_rcnn_r50_fpn_1x_coco.py", "cascade_mask_rcnn_r50_fpn_1x_coco" },
        { "cityscapes/mask_rcnn_r50_fpn_1x_cityscapes.py", "mask_rcnn_r50_fpn_1x_cityscapes" },
        { "_base_/models/cascade_mask_rcnn_r50_fpn.py", "base_models_cascade_mask_rcnn_r50_fpn" },
        { "balloon/mask_rcnn_r50_caffe_fpn_mstrain-poly_20it_offline_balloon.py", "balloon_mask_rcnn_r50_caffe_fpn_ref" },
        { "cityscapes/cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes.py", "seed_cascade_mask_rcnn_r50_fpn_autoaug_10e_cityscapes" },
    };

    public static IReadOnlyList<string> Fixtures => Pairs.Select(p => (string)p[1]).ToList();

    private static string Fixture(string name, string extension) =>
        SharedData.FullPath("fixtures", "mmdet", "configs", $"{name}.merged_config.{extension}");

    public static ConfigDict LoadShipped(string relative, string fixture)
    {
        var dict = DetSharp.Config.Config.FromFile(Path.Combine(RepoPaths.Configs, relative)).Dict.Clone();
        if (fixture.StartsWith("seed_", StringComparison.Ordinal))
        {
            // The only intended difference: mmcv could not build AugFPN, so the fixture was made with FPN.
            Assert.Equal("AugFPN", dict.Get<string>("model.neck.type"));
            ((ConfigDict)((ConfigDict)dict["model"]!)["neck"]!)["type"] = "FPN";
        }
        return dict;
    }

    /// <summary>mmcv's JSON dump (tuples became lists).</summary>
    public static ConfigDict MmcvJson(string fixture) => DataConfigReader.FromJson(File.ReadAllText(Fixture(fixture, "json")), fixture);

    /// <summary>mmcv's Python dump (<c>pretty_text</c>), which keeps tuples.</summary>
    public static ConfigDict MmcvPython(string fixture) => PyConfigParser.Evaluate(File.ReadAllText(Fixture(fixture, "py")), fixture);

    public static List<string> JsonDiffs(string relative, string fixture) =>
        ConfigTreeDiff.Diff(MmcvJson(fixture), LoadShipped(relative, fixture), tuplesAsLists: true);

    public static List<string> PythonDiffs(string relative, string fixture) =>
        ConfigTreeDiff.Diff(MmcvPython(fixture), LoadShipped(relative, fixture), tuplesAsLists: false);

    /// <summary>Rows: the number of values (of all leaves of mmcv's tree) that differ from each dump.</summary>
    public static IReadOnlyList<ParityRow> Measure(string fixture)
    {
        string relative = (string)Pairs.First(p => (string)p[1] == fixture)[0];
        var checks = new ParityChecks(Family, $"{fixture} ← configs/{relative}");
        var json = JsonDiffs(relative, fixture);
        checks.Count($"values differing from the JSON dump (of {ConfigTreeDiff.CountLeaves(MmcvJson(fixture))})", json.Count, 0, string.Join("; ", json.Take(5)));
        var python = PythonDiffs(relative, fixture);
        checks.Count($"values differing from the Python dump, tuples kept (of {ConfigTreeDiff.CountLeaves(MmcvPython(fixture))})", python.Count, 0, string.Join("; ", python.Take(5)));
        return checks.Rows;
    }
}

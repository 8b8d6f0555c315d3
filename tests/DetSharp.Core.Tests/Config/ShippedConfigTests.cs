using DetSharp.Config;
using DetSharp.Core.Tests.TestSupport;

namespace DetSharp.Core.Tests.Config;

/// <summary>
/// The configs we ship merge to exactly what mmcv's <c>Config.fromfile</c> produced for the upstream configs
/// (<c>../shared/fixtures/mmdet/configs/*.merged_config.{json,py}</c>), value by value and type by type.
/// </summary>
public class ShippedConfigTests
{
    public static TheoryData<string, string> Pairs => new()
    {
        { "mask_rcnn/mask_rcnn_r50_fpn_1x_coco.py", "mask_rcnn_r50_fpn_1x_coco" },
        { "cascade_rcnn/cascade_mask_rcnn_r50_fpn_1x_coco.py", "cascade_mask_rcnn_r50_fpn_1x_coco" },
        { "cityscapes/mask_rcnn_r50_fpn_1x_cityscapes.py", "mask_rcnn_r50_fpn_1x_cityscapes" },
        { "_base_/models/cascade_mask_rcnn_r50_fpn.py", "base_models_cascade_mask_rcnn_r50_fpn" },
        { "balloon/mask_rcnn_r50_caffe_fpn_mstrain-poly_20it_offline_balloon.py", "balloon_mask_rcnn_r50_caffe_fpn_ref" },
        { "cityscapes/cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes.py", "seed_cascade_mask_rcnn_r50_fpn_autoaug_10e_cityscapes" },
    };

    private static string Fixture(string name, string extension) =>
        RepoPaths.InShared("fixtures", "mmdet", "configs", $"{name}.merged_config.{extension}");

    private static ConfigDict LoadShipped(string relative, string fixture)
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

    [SharedTheory]
    [MemberData(nameof(Pairs))]
    public void Merged_config_equals_mmcv_json_dump(string relative, string fixture)
    {
        var ours = LoadShipped(relative, fixture);
        var expected = DataConfigReader.FromJson(File.ReadAllText(Fixture(fixture, "json")), fixture);

        var diffs = ConfigTreeDiff.Diff(expected, ours, tuplesAsLists: true);

        Assert.True(diffs.Count == 0, $"{relative} differs from mmcv in {diffs.Count} places:\n" + string.Join("\n", diffs));
    }

    [SharedTheory]
    [MemberData(nameof(Pairs))]
    public void Merged_config_equals_mmcv_python_dump_including_tuples(string relative, string fixture)
    {
        var ours = LoadShipped(relative, fixture);
        var expected = PyConfigParser.Evaluate(File.ReadAllText(Fixture(fixture, "py")), fixture);

        var diffs = ConfigTreeDiff.Diff(expected, ours, tuplesAsLists: false);

        Assert.True(diffs.Count == 0, $"{relative} differs from mmcv in {diffs.Count} places:\n" + string.Join("\n", diffs));
    }

    [SharedTheory]
    [MemberData(nameof(Pairs))]
    public void Mmcv_python_dump_and_json_dump_agree_under_our_parser(string relative, string fixture)
    {
        _ = relative;
        var fromPython = PyConfigParser.Evaluate(File.ReadAllText(Fixture(fixture, "py")), fixture);
        var fromJson = DataConfigReader.FromJson(File.ReadAllText(Fixture(fixture, "json")), fixture);

        Assert.Empty(ConfigTreeDiff.Diff(fromJson, fromPython, tuplesAsLists: true));
    }

    public static TheoryData<string> AllShipped()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.EnumerateFiles(RepoPaths.Configs, "*.py", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            data.Add(Path.GetRelativePath(RepoPaths.Configs, file));
        return data;
    }

    [Theory]
    [MemberData(nameof(AllShipped))]
    public void Every_shipped_config_round_trips_through_dump_and_parse(string relative)
    {
        var cfg = DetSharp.Config.Config.FromFile(Path.Combine(RepoPaths.Configs, relative));

        string python = cfg.DumpPython();
        var reparsed = PyConfigParser.Evaluate(python, "dump.py");
        var fromJson = DataConfigReader.FromJson(cfg.DumpJson(), "dump.json");

        Assert.Empty(ConfigTreeDiff.Diff(cfg.Dict, reparsed, tuplesAsLists: false));
        Assert.Empty(ConfigTreeDiff.Diff(cfg.Dict, fromJson, tuplesAsLists: true));
    }

    [Fact]
    public void The_seed_config_keeps_its_AugFPN_neck_and_eight_classes()
    {
        var cfg = DetSharp.Config.Config.FromFile(Path.Combine(RepoPaths.Configs, "cityscapes", "cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes.py"));

        Assert.Equal("AugFPN", cfg.Get<string>("model.neck.type"));
        Assert.Equal(new[] { 8, 8, 8 }, Enumerable.Range(0, 3).Select(i => cfg.Get<int>($"model.roi_head.bbox_head.{i}.num_classes")));
        Assert.Equal(8, cfg.Get<int>("model.roi_head.mask_head.num_classes"));
        Assert.Equal("AutoAugment", cfg.Get<string>("data.train.dataset.pipeline.2.type"));
    }
}

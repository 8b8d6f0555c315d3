using DetSharp.Config;

namespace DetSharp.Core.Tests.Config;

/// <summary>
/// The configs we ship: each round-trips through its dumps, and the seed's keeps what makes it the seed's. That they merge
/// to exactly what mmcv's <c>Config.fromfile</c> produced (<c>../shared/fixtures/mmdet/configs</c>, value by value and type
/// by type) is compared once, in the parity suite (DetSharp.Tests, MmdetParitySuite, family "configs", see
/// <see cref="ConfigParity"/>).
/// </summary>
public class ShippedConfigTests
{
    public static TheoryData<string, string> Pairs => ConfigParity.Pairs;

    [SharedTheory]
    [MemberData(nameof(Pairs))]
    public void Mmcv_python_dump_and_json_dump_agree_under_our_parser(string relative, string fixture)
    {
        _ = relative;
        var fromPython = ConfigParity.MmcvPython(fixture);
        var fromJson = ConfigParity.MmcvJson(fixture);

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

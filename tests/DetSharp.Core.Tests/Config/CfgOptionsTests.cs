using DetSharp.Config;

namespace DetSharp.Core.Tests.Config;

/// <summary><c>--cfg-options</c> as mmcv's DictAction parses and merges it.</summary>
public class CfgOptionsTests
{
    [Theory]
    [InlineData("1", 1L)]
    [InlineData("-3", -3L)]
    [InlineData("0.5", 0.5)]
    [InlineData("1e-4", 0.0001)]
    [InlineData("True", true)]
    [InlineData("false", false)]
    [InlineData("TRUE", true)]
    [InlineData("None", null)]
    [InlineData("none", "none")]
    [InlineData("'SGD'", "SGD")]
    [InlineData("\"a b\"", "ab")] // DictAction removes all spaces
    [InlineData("work_dirs/x", "work_dirs/x")]
    public void Scalars_parse_as_int_float_bool_none_or_string(string text, object? expected)
    {
        Assert.Equal(expected, CfgOptions.ParseValue(text));
    }

    [Fact]
    public void Brackets_give_lists_and_tuples_and_nest()
    {
        var value = CfgOptions.ParseValue("[(1333,800),(1333, 640)]");
        var list = Assert.IsType<ConfigList>(value);
        Assert.Equal(2, list.Count);
        Assert.Equal([1333L, 640L], Assert.IsType<ConfigTuple>(list[1]));

        Assert.Equal(["bbox", "segm"], Assert.IsType<ConfigList>(CfgOptions.ParseValue("bbox,segm")));
        Assert.Equal([1L, 2L, 3L], Assert.IsType<ConfigTuple>(CfgOptions.ParseValue("(1,2,3)")));
        Assert.Equal([[1L, 2L], [3L]], Assert.IsType<ConfigList>(CfgOptions.ParseValue("[[1,2],[3]]")).Select(x => (IEnumerable<object?>)x!));
        Assert.Empty(Assert.IsType<ConfigList>(CfgOptions.ParseValue("[]")));
    }

    [Fact]
    public void Unbalanced_brackets_are_reported()
    {
        var e = Assert.Throws<DetSharpException>(() => CfgOptions.ParseValue("[(1,2]"));
        Assert.Contains("unbalanced brackets", e.Message);
    }

    [Fact]
    public void Item_without_equals_is_reported()
    {
        var e = Assert.Throws<DetSharpException>(() => CfgOptions.Parse(["model.num_classes"]));
        Assert.Contains("'model.num_classes' is not of the form key=value", e.Message);
    }

    [Fact]
    public void Dotted_keys_merge_and_numeric_segments_index_lists()
    {
        var cfg = DetSharp.Config.Config.FromText("""
            model = dict(roi_head=dict(bbox_head=[dict(num_classes=80, x=1), dict(num_classes=80)]))
            data = dict(train=dict(pipeline=[dict(type='Load'), dict(type='Resize', img_scale=(1333, 800))]))
            """, Path.Combine(Path.GetTempPath(), "inline.py"));

        cfg.MergeFromOptions([
            "model.roi_head.bbox_head.0.num_classes=8",
            "data.train.pipeline.1.img_scale=(666,400)",
            "optimizer.lr=0.01",
            "evaluation.metric=bbox,segm",
        ]);

        Assert.Equal(8, cfg.Get<int>("model.roi_head.bbox_head.0.num_classes"));
        Assert.Equal(1, cfg.Get<int>("model.roi_head.bbox_head.0.x"));
        Assert.Equal(80, cfg.Get<int>("model.roi_head.bbox_head.1.num_classes"));
        Assert.Equal([666L, 400L], Assert.IsType<ConfigTuple>(cfg.Dict.Get<object>("data.train.pipeline.1.img_scale")));
        Assert.Equal(0.01, cfg.Get<double>("optimizer.lr"));
        Assert.Equal(["bbox", "segm"], cfg.Get<string[]>("evaluation.metric"));
    }

    [Fact]
    public void Out_of_range_list_index_is_reported()
    {
        var cfg = DetSharp.Config.Config.FromText("heads = [dict(n=1)]\n", Path.Combine(Path.GetTempPath(), "inline.py"));

        var e = Assert.Throws<DetSharpException>(() => cfg.MergeFromOptions(["heads.3.n=2"]));

        Assert.Contains("index 3 exceeds the length of the list at 'heads' (1 elements)", e.Message);
    }

    [SharedFact]
    public void Balloon_recipe_options_apply_to_the_seed_config()
    {
        var cfg = DetSharp.Config.Config.FromFile(Path.Combine(RepoPaths.Configs, "cityscapes", "cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes.py"));

        cfg.MergeFromOptions(["model.roi_head.bbox_head.2.num_classes=1", "model.roi_head.mask_head.num_classes=1"]);

        Assert.Equal(1, cfg.Get<int>("model.roi_head.bbox_head.2.num_classes"));
        Assert.Equal(8, cfg.Get<int>("model.roi_head.bbox_head.1.num_classes"));
        Assert.Equal(1, cfg.Get<int>("model.roi_head.mask_head.num_classes"));
    }
}

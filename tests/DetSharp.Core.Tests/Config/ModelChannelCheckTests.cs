using DetSharp.Config;
using DetSharp.TestSupport;


namespace DetSharp.Core.Tests.Config;

/// <summary>Issue 27, item 10: neck and heads that disagree on channels are refused from the config, before anything is built.</summary>
public class ModelChannelCheckTests
{
    private static ConfigDict Model(string cfgOptions)
    {
        var cfg = ConfigTools.Load(Path.Combine(RepoPaths.Configs, "demo", "mask_rcnn_r18_slim_fpn_demo.py"), cfgOptions.Length == 0 ? [] : cfgOptions.Split(' '));
        return cfg.Get<ConfigDict>("model");
    }

    [Fact]
    public void The_shipped_configs_pass()
    {
        foreach (var config in new[] { "configs/demo/mask_rcnn_r18_slim_fpn_demo.py", "configs/demo/cascade_mask_rcnn_r18_augfpn_autoaug_demo.py",
                     "configs/cityscapes/cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes.py", "configs/mask_rcnn/mask_rcnn_r50_fpn_1x_coco.py" })
            ModelChannelCheck.Check(ConfigTools.Load(Path.Combine(RepoPaths.Root, config)).Get<ConfigDict>("model"));
    }

    [Fact]
    public void A_roi_extractor_whose_channels_differ_from_the_neck_is_named_with_what_to_set()
    {
        var e = Assert.Throws<DetSharpException>(() => ModelChannelCheck.Check(Model("model.roi_head.bbox_roi_extractor.out_channels=16")));

        Assert.Contains("model.roi_head.bbox_roi_extractor.out_channels (16) differs from model.neck.out_channels (32)", e.Message);
        Assert.Contains("model.roi_head.bbox_head.in_channels (32) differs from model.roi_head.bbox_roi_extractor.out_channels (16)", e.Message);
        Assert.Contains("--cfg-options model.roi_head.bbox_roi_extractor.out_channels=32", e.Message);
    }

    [Theory]
    [InlineData("model.rpn_head.in_channels=64", "model.rpn_head.in_channels (64)")]
    [InlineData("model.roi_head.mask_roi_extractor.out_channels=8", "model.roi_head.mask_roi_extractor.out_channels (8)")]
    [InlineData("model.roi_head.mask_head.in_channels=8", "model.roi_head.mask_head.in_channels (8)")]
    [InlineData("model.neck.out_channels=64", "model.roi_head.bbox_roi_extractor.out_channels (32) differs from model.neck.out_channels (64)")]
    public void Every_link_from_the_neck_to_the_heads_is_checked(string option, string named)
    {
        var e = Assert.Throws<DetSharpException>(() => ModelChannelCheck.Check(Model(option)));

        Assert.Contains(named, e.Message);
    }

    [Fact]
    public void Cascade_stages_are_checked_one_by_one()
    {
        var model = ConfigTools.Load(Path.Combine(RepoPaths.Configs, "demo", "cascade_mask_rcnn_r18_augfpn_autoaug_demo.py"),
            ["model.roi_head.bbox_head.2.in_channels=7"]).Get<ConfigDict>("model");

        var e = Assert.Throws<DetSharpException>(() => ModelChannelCheck.Check(model));

        Assert.Contains("model.roi_head.bbox_head.2.in_channels (7)", e.Message);
    }

    [Fact]
    public void Dicts_without_a_neck_are_left_alone()
    {
        ModelChannelCheck.Check(new ConfigDict { ["type"] = "ResNet", ["depth"] = 18L });
    }

    [Fact]
    public void OneStageHeadThatDoesNotTakeTheNecksChannels_IsRefused()
    {
        var cfg = ConfigTools.Load(Path.Combine(RepoPaths.Configs, "retinanet", "retinanet_r50_fpn_1x_coco.py"), ["model.bbox_head.in_channels=128"]);
        var e = Assert.Throws<DetSharpException>(() => ModelChannelCheck.Check(cfg.Get<ConfigDict>("model")));
        Assert.Contains("model.bbox_head.in_channels (128) differs from model.neck.out_channels (256)", e.Message);
        Assert.Contains("--cfg-options model.bbox_head.in_channels=256", e.Message);
    }
}

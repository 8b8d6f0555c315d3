using DetSharp.Datasets;

namespace DetSharp.Core.Tests.Datasets;

/// <summary>NumClassCheckHook's check: the user pain points about CLASSES and num_classes get a message that says what to change.</summary>
public class NumClassCheckTests
{
    [Fact]
    public void Matching_heads_pass()
    {
        Assert.Null(NumClassCheck.Check(new[] { "balloon" }, [new("roi_head.bbox_head", "Shared2FCBBoxHead", 1), new("roi_head.mask_head", "FCNMaskHead", 1)], "CocoDataset", "MaskRCNN"));
    }

    [Fact]
    public void A_head_left_at_80_classes_is_named_with_the_override_to_use()
    {
        var e = Assert.Throws<DetSharpException>(() => NumClassCheck.Check(new[] { "balloon" },
            [new("roi_head.bbox_head", "Shared2FCBBoxHead", 1), new("roi_head.mask_head", "FCNMaskHead", 80)], "CocoDataset", "MaskRCNN"));

        Assert.Contains("The `num_classes` (80) in FCNMaskHead of MaskRCNN does not matches the length of `CLASSES` 1) in CocoDataset", e.Message);
        Assert.Contains("--cfg-options model.roi_head.mask_head.num_classes=1", e.Message);
    }

    [Fact]
    public void Counting_the_background_is_explained()
    {
        var e = Assert.Throws<DetSharpException>(() => NumClassCheck.Check(new[] { "balloon" }, [new("roi_head.bbox_head", "Shared2FCBBoxHead", 2)], "CocoDataset", "MaskRCNN"));

        Assert.Contains("does not count the background", e.Message);
    }

    [Fact]
    public void A_one_class_tuple_without_comma_is_caught()
    {
        var e = Assert.Throws<DetSharpException>(() => NumClassCheck.Check("balloon", [], "CocoDataset", "MaskRCNN"));

        Assert.Contains("Add comma if number of classes is 1 as CLASSES = ('balloon',)", e.Message);
    }

    [Fact]
    public void Unknown_classes_only_warn()
    {
        Assert.Contains("Please set `CLASSES` in the CocoDataset", NumClassCheck.Check(null, [], "CocoDataset", "MaskRCNN"));
    }
}

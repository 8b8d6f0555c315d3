using System.Text.Json;
using DetSharp.Evaluation;
using DetSharp.Structures;

namespace DetSharp.Core.Tests.Evaluation;

/// <summary>Issue 27, item 10: a malformed box or RLE fails when the annotation file loads, naming the file, record and image.</summary>
public class GroundTruthValidationTests
{
    private static CocoApi Load(string annotation) => CocoApi.FromJson(JsonDocument.Parse(
        "{\"images\": [{\"id\": 7, \"width\": 4, \"height\": 3, \"file_name\": \"dir/img7.jpg\"}], "
        + "\"categories\": [{\"id\": 1, \"name\": \"a\"}], \"annotations\": [" + annotation + "]}").RootElement, "gt.json");

    [Theory]
    [InlineData("[3, 4]")]
    [InlineData("[]")]
    [InlineData("[1, 2, 3, \"4\"]")]
    [InlineData("\"1 2 3 4\"")]
    public void A_bbox_that_is_not_four_numbers_is_named(string bbox)
    {
        var e = Assert.Throws<DetSharpException>(() => Load($"{{\"id\": 5, \"image_id\": 7, \"category_id\": 1, \"bbox\": {bbox}}}"));

        Assert.StartsWith("gt.json: annotations[0] (id 5, image_id 7 'dir/img7.jpg'): 'bbox' must be a list of 4 numbers", e.Message);
    }

    [Fact]
    public void Annotations_without_a_bbox_still_load()
    {
        var gt = Load("{\"id\": 5, \"image_id\": 7, \"category_id\": 1}");

        Assert.False(gt.Annotations[0].HasBbox);
    }

    [Theory]
    [InlineData("\"ooo\"", "ends inside a number")]
    [InlineData("\"zz\"", "outside COCO's alphabet")]
    [InlineData("\"12\"", "cover 3 pixels but its 'size' [3, 4] has 12")]
    [InlineData("[5, 6]", "cover 11 pixels")]
    [InlineData("[-1, 13]", "negative run")]
    public void Garbage_rle_counts_are_named(string counts, string why)
    {
        var e = Assert.Throws<DetSharpException>(() => Load(
            $"{{\"id\": 5, \"image_id\": 7, \"category_id\": 1, \"iscrowd\": 1, \"segmentation\": {{\"size\": [3, 4], \"counts\": {counts}}}}}"));

        Assert.StartsWith("gt.json: annotations[0] (id 5, image_id 7 'dir/img7.jpg'):", e.Message);
        Assert.Contains(why, e.Message);
    }

    [Fact]
    public void A_valid_rle_loads_and_decodes()
    {
        string counts = new Rle(3, 4, [2, 5, 5]).ToCompressedString();
        var gt = Load($"{{\"id\": 5, \"image_id\": 7, \"category_id\": 1, \"iscrowd\": 1, \"segmentation\": {{\"size\": [3, 4], \"counts\": \"{counts}\"}}}}");

        Assert.Equal(5u, gt.Annotations[0].Segmentation!.ToRle(3, 4).Area());
    }
}

using DetSharp.Converters;
using DetSharp.Core.Tests.TestSupport;
using OpenCvSharp;

namespace DetSharp.Core.Tests.Converters;

/// <summary>Issue 27, items 3, 4 and 10: converters list every bad record, write nothing, and never replace their input.</summary>
public class HostileRecordTests
{
    private static string Image(TempDir dir, string name)
    {
        using var img = new Mat(24, 32, MatType.CV_8UC3, Scalar.All(90));
        string path = Path.Combine(dir.Path, name);
        Cv2.ImWrite(path, img);
        return path;
    }

    private const string Polygon = "{\"shape_attributes\": {\"name\": \"polygon\", \"all_points_x\": [1, 9, 9], \"all_points_y\": [1, 1, 9]}, \"region_attributes\": {}}";

    [Theory]
    [InlineData("\"polygon\"", "string")]
    [InlineData("7", "number")]
    [InlineData("null", "null")]
    [InlineData("true", "true")]
    public void Regions_that_are_neither_list_nor_dict_are_listed_and_nothing_is_written(string regions, string kind)
    {
        using var dir = new TempDir();
        Image(dir, "a.jpg");
        Image(dir, "b.jpg");
        string via = dir.Write("via.json", $"{{\"a.jpg1\": {{\"filename\": \"a.jpg\", \"regions\": [{Polygon}]}}, \"b.jpg1\": {{\"filename\": \"b.jpg\", \"regions\": {regions}}}}}");
        string output = Path.Combine(dir.Path, "coco.json");

        var e = Assert.Throws<ConversionException>(() => ViaToCoco.Convert(new ViaToCocoOptions { ViaJson = via, Output = output }));

        var problem = Assert.Single(e.Problems);
        Assert.Contains("image record 'b.jpg1'", problem);
        Assert.Contains($"'regions' must be a list (VIA 2.x) or a dict (VIA 1.x) of regions, got {kind}", problem);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void Absent_or_empty_regions_are_an_image_without_objects()
    {
        using var dir = new TempDir();
        Image(dir, "a.jpg");
        Image(dir, "b.jpg");
        string via = dir.Write("via.json", "{\"a\": {\"filename\": \"a.jpg\"}, \"b\": {\"filename\": \"b.jpg\", \"regions\": {}}}");

        var s = ViaToCoco.Convert(new ViaToCocoOptions { ViaJson = via, Output = Path.Combine(dir.Path, "coco.json") });

        Assert.Equal((2, 0), (s.Images, s.Annotations));
    }

    [Fact]
    public void An_empty_image_file_is_a_bad_record_named_with_its_file()
    {
        using var dir = new TempDir();
        Image(dir, "a.jpg");
        File.WriteAllBytes(Path.Combine(dir.Path, "b.jpg"), []);
        string via = dir.Write("via.json", $"{{\"a\": {{\"filename\": \"a.jpg\", \"regions\": []}}, \"b\": {{\"filename\": \"b.jpg\", \"regions\": [{Polygon}]}}}}");

        var e = Assert.Throws<ConversionException>(() => ViaToCoco.Convert(new ViaToCocoOptions { ViaJson = via, Output = Path.Combine(dir.Path, "coco.json") }));

        Assert.Contains("image record 'b'", Assert.Single(e.Problems));
        Assert.Contains("b.jpg: the image file is empty (0 bytes)", e.Problems[0]);
    }

    [Fact]
    public void The_output_may_not_be_the_input()
    {
        using var dir = new TempDir();
        Image(dir, "a.jpg");
        string via = dir.Write("via.json", $"{{\"a\": {{\"filename\": \"a.jpg\", \"regions\": [{Polygon}]}}}}");
        string before = File.ReadAllText(via);
        string labelme = dir.Write("lm/a.json", "{\"imagePath\": \"../a.jpg\", \"imageHeight\": 24, \"imageWidth\": 32, \"shapes\": []}");

        var e = Assert.Throws<DetSharpException>(() => ViaToCoco.Convert(new ViaToCocoOptions { ViaJson = via, Output = via }));
        Assert.Contains("would overwrite the input", e.Message);
        Assert.Equal(before, File.ReadAllText(via));
        Assert.Throws<DetSharpException>(() => LabelmeToCoco.Convert(new LabelmeToCocoOptions { Inputs = [Path.GetDirectoryName(labelme)!], Output = labelme }));
    }
}

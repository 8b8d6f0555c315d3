using System.Text.Json;
using DetSharp.Converters;
using DetSharp.Core.Tests.TestSupport;
using DetSharp.Evaluation;
using DetSharp.Structures;
using OpenCvSharp;

namespace DetSharp.Core.Tests.Converters;

public class ConverterTests
{
    [SharedTheory]
    [InlineData("train")]
    [InlineData("val")]
    public void Via2coco_reproduces_the_balloon_annotation_coco_json(string split)
    {
        using var tmp = new TempDir();
        string output = Path.Combine(tmp.Path, "out.json");
        var summary = ViaToCoco.Convert(new ViaToCocoOptions
        {
            ViaJson = SharedData.FullPath("datasets", "balloon", split, "via_region_data.json"),
            Output = output,
        });

        using var expected = SharedData.LoadJson("datasets", "balloon", split, "annotation_coco.json");
        using var actual = JsonDocument.Parse(File.ReadAllBytes(output));
        var e = expected.RootElement;
        var a = actual.RootElement;
        Assert.Equal(e.GetProperty("images").GetArrayLength(), summary.Images);
        for (int i = 0; i < summary.Images; i++)
        {
            var ei = e.GetProperty("images")[i];
            var ai = a.GetProperty("images")[i];
            foreach (var key in new[] { "id", "height", "width" }) Assert.Equal(ei.GetProperty(key).GetInt64(), ai.GetProperty(key).GetInt64());
            Assert.Equal(ei.GetProperty("file_name").GetString(), ai.GetProperty("file_name").GetString());
        }
        var eAnns = e.GetProperty("annotations");
        var aAnns = a.GetProperty("annotations");
        Assert.Equal(eAnns.GetArrayLength(), aAnns.GetArrayLength());
        for (int i = 0; i < eAnns.GetArrayLength(); i++)
        {
            var ea = eAnns[i];
            var aa = aAnns[i];
            Assert.Equal(i + 1, aa.GetProperty("id").GetInt64());
            Assert.Equal(ea.GetProperty("id").GetInt64(), aa.GetProperty("id").GetInt64());
            Assert.Equal(ea.GetProperty("image_id").GetInt64(), aa.GetProperty("image_id").GetInt64());
            Assert.Equal(0, aa.GetProperty("category_id").GetInt64());
            Assert.Equal(0, aa.GetProperty("iscrowd").GetInt64());
            Assert.Equal(ea.GetProperty("area").GetDouble(), aa.GetProperty("area").GetDouble(), 1e-6);
            for (int k = 0; k < 4; k++) Assert.Equal(ea.GetProperty("bbox")[k].GetDouble(), aa.GetProperty("bbox")[k].GetDouble(), 1e-6);
            var ep = ea.GetProperty("segmentation")[0];
            var ap = aa.GetProperty("segmentation")[0];
            Assert.Equal(ep.GetArrayLength(), ap.GetArrayLength());
            for (int k = 0; k < ep.GetArrayLength(); k++) Assert.Equal(ep[k].GetDouble(), ap[k].GetDouble(), 1e-6);
        }
        Assert.Equal("""[{"id":0,"name":"balloon"}]""", a.GetProperty("categories").GetRawText());
        // and the result loads as COCO ground truth
        Assert.Equal(summary.Annotations, CocoApi.Load(output).Annotations.Count);
    }

    [Fact]
    public void Via2coco_reports_every_bad_record_and_writes_nothing()
    {
        using var tmp = new TempDir();
        WriteImage(Path.Combine(tmp.Path, "a.jpg"), 40, 30);
        string via = tmp.Write("via.json", """
            {"a.jpg1": {"filename": "a.jpg", "regions": {
                "0": {"shape_attributes": {"name": "polygon", "all_points_x": [1, 5], "all_points_y": [1, 5]}, "region_attributes": {}},
                "1": {"shape_attributes": {"name": "polygon", "all_points_x": [1, 5, 5], "all_points_y": [1, 5]}, "region_attributes": {}},
                "2": {"shape_attributes": {"name": "circle", "cx": 1}, "region_attributes": {}}}},
             "b.jpg2": {"filename": "b.jpg", "regions": []}}
            """);
        string output = Path.Combine(tmp.Path, "out.json");
        var e = Assert.Throws<ConversionException>(() => ViaToCoco.Convert(new ViaToCocoOptions { ViaJson = via, Output = output }));
        Assert.Equal(4, e.Problems.Count);
        Assert.Contains(e.Problems, p => p.Contains("'a.jpg1', region 0") && p.Contains("2 points"));
        Assert.Contains(e.Problems, p => p.Contains("region 1") && p.Contains("all_points_y has 2"));
        Assert.Contains(e.Problems, p => p.Contains("region 2") && p.Contains("'circle'"));
        Assert.Contains(e.Problems, p => p.Contains("b.jpg") && p.Contains("not found"));
        Assert.False(File.Exists(output));
        Assert.Empty(Directory.GetFiles(tmp.Path, "*.tmp"));
    }

    [Fact]
    public void Via2coco_categories_from_a_region_attribute_and_polygon_area()
    {
        using var tmp = new TempDir();
        WriteImage(Path.Combine(tmp.Path, "a.jpg"), 40, 30);
        string via = tmp.Write("via.json", """
            {"_via_img_metadata": {"a.jpg1": {"filename": "a.jpg", "regions": [
                {"shape_attributes": {"name": "polygon", "all_points_x": [0, 10, 10, 0], "all_points_y": [0, 0, 4, 4]}, "region_attributes": {"type": "cat"}},
                {"shape_attributes": {"name": "rect", "x": 2, "y": 3, "width": 5, "height": 6}, "region_attributes": {"type": "dog"}}]}}}
            """);
        string output = Path.Combine(tmp.Path, "out.json");
        var s = ViaToCoco.Convert(new ViaToCocoOptions { ViaJson = via, Output = output, CategoryAttribute = "type", Area = AreaMode.Polygon });
        Assert.Equal(["cat", "dog"], s.Categories);
        var coco = CocoApi.Load(output);
        Assert.Equal((30, 40), (coco.Images[0].Height, coco.Images[0].Width));
        Assert.Equal(40.0, coco.Annotations[0].Area, 9);
        Assert.Equal(1, coco.Annotations[1].CategoryId);
        Assert.Equal(new BoxXywh(2, 3, 5, 6), coco.Annotations[1].Bbox);
    }

    private static void WriteImage(string path, int w, int h)
    {
        using var m = new Mat(h, w, MatType.CV_8UC3, new Scalar(10, 20, 30));
        Cv2.ImWrite(path, m);
    }

    [Fact]
    public void Cityscapes_converter_matches_mmdetection_rules_on_synthetic_pngs()
    {
        using var tmp = new TempDir();
        string root = tmp.Path;
        void Make(string split, string city, string stem, Action<Mat> draw)
        {
            Directory.CreateDirectory(Path.Combine(root, "leftImg8bit", split, city));
            Directory.CreateDirectory(Path.Combine(root, "gtFine", split, city));
            WriteImage(Path.Combine(root, "leftImg8bit", split, city, stem + "_leftImg8bit.png"), 64, 32);
            using var ids = new Mat(32, 64, MatType.CV_16UC1, new Scalar(7)); // road
            draw(ids);
            Cv2.ImWrite(Path.Combine(root, "gtFine", split, city, stem + "_gtFine_instanceIds.png"), ids);
        }
        Make("train", "aachen", "aachen_000000_000019", ids =>
        {
            ids[new Rect(2, 3, 10, 5)].SetTo(new Scalar(26001)); // car instance 1
            ids[new Rect(20, 0, 4, 8)].SetTo(new Scalar(24000)); // person instance 0
            ids[new Rect(40, 10, 6, 6)].SetTo(new Scalar(26));   // car crowd
            ids[new Rect(50, 20, 3, 3)].SetTo(new Scalar(29000)); // caravan: ignored in eval
        });
        Make("train", "bochum", "bochum_000000_000313", _ => { });
        Make("test", "berlin", "berlin_000000_000019", _ => { });

        var results = CityscapesToCoco.Convert(new CityscapesToCocoOptions { CityscapesPath = root, Nproc = 2 });
        Assert.Equal(["train", "test"], results.Select(r => r.Split));

        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(root, "instancesonly_filtered_gtFine_train.json")));
        var r = doc.RootElement;
        Assert.Equal("aachen/aachen_000000_000019_leftImg8bit.png", r.GetProperty("images")[0].GetProperty("file_name").GetString());
        Assert.Equal("aachen/aachen_000000_000019_gtFine_labelIds.png", r.GetProperty("images")[0].GetProperty("segm_file").GetString());
        Assert.Equal(1, r.GetProperty("images")[1].GetProperty("id").GetInt64());
        var anns = r.GetProperty("annotations");
        Assert.Equal(3, anns.GetArrayLength());
        // increasing instance id: 26 (crowd car), 24000 (person), 26001 (car)
        Assert.Equal([26L, 24L, 26L], anns.EnumerateArray().Select(a => a.GetProperty("category_id").GetInt64()));
        Assert.Equal([1L, 0L, 0L], anns.EnumerateArray().Select(a => a.GetProperty("iscrowd").GetInt64()));
        Assert.Equal([1L, 2L, 3L], anns.EnumerateArray().Select(a => a.GetProperty("id").GetInt64()));
        Assert.Equal(50, anns[2].GetProperty("area").GetInt64());
        Assert.Equal([2.0, 3, 10, 5], anns[2].GetProperty("bbox").EnumerateArray().Select(v => v.GetDouble()));
        var coco = CocoApi.Load(Path.Combine(root, "instancesonly_filtered_gtFine_train.json"));
        Assert.Equal(50u, coco.Annotations[2].Segmentation!.ToRle(32, 64).Area());
        Assert.Equal(8, coco.Categories.Count);

        using var test = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(root, "instancesonly_filtered_gtFine_test.json")));
        Assert.False(test.RootElement.TryGetProperty("annotations", out _));
    }

    [Fact]
    public void Labelme_converter_groups_and_validates()
    {
        using var tmp = new TempDir();
        tmp.Write("a.json", """
            {"imagePath": "a.jpg", "imageHeight": 30, "imageWidth": 40, "shapes": [
              {"label": "cat", "points": [[0, 0], [10, 0], [10, 4], [0, 4]], "shape_type": "polygon", "group_id": 1},
              {"label": "cat", "points": [[20, 20], [22, 20], [22, 22]], "shape_type": "polygon", "group_id": 1},
              {"label": "dog", "points": [[5, 6], [1, 2]], "shape_type": "rectangle", "group_id": null}]}
            """);
        string output = Path.Combine(tmp.Path, "out", "coco.json");
        var s = LabelmeToCoco.Convert(new LabelmeToCocoOptions { Inputs = [tmp.Path], Output = output });
        Assert.Equal((1, 2), (s.Images, s.Annotations));
        var coco = CocoApi.Load(output);
        Assert.Equal(new BoxXywh(0, 0, 22, 22), coco.Annotations[0].Bbox);
        Assert.Equal(42.0, coco.Annotations[0].Area, 9);
        Assert.Equal(new BoxXywh(1, 2, 4, 4), coco.Annotations[1].Bbox);
        Assert.Equal(2, coco.Annotations[1].CategoryId);

        tmp.Write("b.json", """{"imagePath": "b.jpg", "imageHeight": 30, "imageWidth": 40, "shapes": [{"label": "cat", "points": [[0, 0]], "shape_type": "point"}]}""");
        var e = Assert.Throws<ConversionException>(() => LabelmeToCoco.Convert(new LabelmeToCocoOptions { Inputs = [tmp.Path], Output = output + "2" }));
        Assert.Contains("b.json: shapes[0]: shape_type 'point'", e.Problems[0]);
        Assert.False(File.Exists(output + "2"));
    }
}

using DetSharp.Config;
using DetSharp.Core.Tests.TestSupport;
using DetSharp.Datasets;
using DetSharp.Structures;

namespace DetSharp.Core.Tests.Datasets;

public class CocoDatasetTests
{
    internal static ConfigDict Cfg(string text)
    {
        var dict = PyConfigParser.Evaluate("x = " + text + "\n", "cfg.py");
        return dict.Get<ConfigDict>("x");
    }

    [SharedFact]
    public void Coco_mini_loads_all_80_categories_and_crowd_rles_as_ignore_boxes()
    {
        string root = SharedData.FullPath("datasets", "coco_mini") + "/";
        var ds = (CocoDataset)DatasetBuilder.Build(Cfg(
            $"dict(type='CocoDataset', data_root='{root}', ann_file='annotations/instances_train2017.json', img_prefix='train2017/', test_mode=True)"));

        Assert.Equal(80, ds.CatIds.Count);
        Assert.Equal(80, ds.Count);
        Assert.Equal(CocoDataset.CocoClasses, ds.Classes);
        Assert.Equal(Enumerable.Range(0, 80), ds.CatIds.Select(c => ds.Cat2Label[c]));
        int ignore = 0, boxes = 0;
        for (int i = 0; i < ds.Count; i++)
        {
            var ann = ds.GetAnnInfo(i);
            ignore += ann.BboxesIgnore.Length / 4;
            boxes += ann.Count;
            Assert.All(ann.Labels, l => Assert.InRange(l, 0, 79));
            Assert.Equal(ann.Count, ann.Masks.Length);
        }
        Assert.Equal(8, ignore);
        Assert.InRange(boxes, 700, 731);

        // a crowd RLE decodes at the image size through LoadAnnotations(poly2mask) and training keeps every image with a box
        var train = (CocoDataset)DatasetBuilder.Build(Cfg(
            $"dict(type='CocoDataset', data_root='{root}', ann_file='annotations/instances_train2017.json', img_prefix='train2017/', " +
            "pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True, with_mask=True)])"));
        Assert.Equal(80, train.Count);
        using var sample = train.GetItem(0, new Random(0));
        Assert.Equal(sample.GtLabels!.Length, sample.GtMasks!.Count);
        Assert.Equal((sample.ImgShape.Height, sample.ImgShape.Width), (sample.GtMasks.Height, sample.GtMasks.Width));
        Assert.Equal(["gt_bboxes_ignore", "gt_bboxes"], sample.BboxFields);
    }

    [SharedFact]
    public void Balloon_loads_with_one_class()
    {
        string root = SharedData.FullPath("datasets") + "/";
        var ds = (CocoDataset)DatasetBuilder.Build(Cfg(
            $"dict(type='CocoDataset', data_root='{root}', ann_file='balloon/train/annotation_coco.json', img_prefix='balloon/train/', classes=('balloon',))"));
        Assert.Equal(61, ds.Count);
        Assert.Equal(["balloon"], ds.Classes);
        int n = 0;
        for (int i = 0; i < ds.Count; i++) n += ds.GetAnnInfo(i).Count;
        Assert.Equal(255, n);
        Assert.Equal("34020010494_e5cb88e1c4_k.jpg", ds.DataInfos[0].FileName);
        Assert.Equal(1, ds.Flags[0]);
        var val = DatasetBuilder.Build(Cfg(
            $"dict(type='CocoDataset', data_root='{root}', ann_file='balloon/val/annotation_coco.json', img_prefix='balloon/val/', classes=('balloon',))"),
            new Dictionary<string, object?> { ["test_mode"] = true });
        Assert.Equal(13, val.Count);
    }

    [SharedFact]
    public void A_one_class_string_without_comma_says_to_add_the_comma()
    {
        string root = SharedData.FullPath("datasets") + "/";
        var e = Assert.Throws<DetSharpException>(() => DatasetBuilder.Build(Cfg(
            $"dict(type='CocoDataset', data_root='{root}', ann_file='balloon/train/annotation_coco.json', classes=('balloon'))")));
        Assert.Contains("classes=('balloon',)", e.Message);
        Assert.Contains("trailing comma", e.Message);
    }

    [Fact]
    public void Classes_on_a_wrapper_says_where_to_put_them()
    {
        var e = Assert.Throws<DetSharpException>(() => DatasetBuilder.Build(Cfg(
            "dict(type='RepeatDataset', times=8, classes=('person',), dataset=dict(type='CityscapesDataset', ann_file='a.json'))")));
        Assert.Contains("data.train.dataset.classes", e.Message);
        Assert.Contains("RepeatDataset", e.Message);
    }

    internal const string SeedJson = """
        {"images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 80},
                    {"id": 2, "file_name": "b.jpg", "width": 20, "height": 80},
                    {"id": 3, "file_name": "c.jpg", "width": 60, "height": 50}],
         "categories": [{"id": 7, "name": "car"}, {"id": 3, "name": "person"}],
         "annotations": [
           {"id": 1, "image_id": 1, "category_id": 3, "bbox": [10, 10, 20, 30], "area": 600, "iscrowd": 0,
            "segmentation": [[10, 10, 30, 10, 30, 40, 10, 40]], "occ": 1, "truncate": 0, "direct": "front"},
           {"id": 2, "image_id": 1, "category_id": 7, "bbox": [50, 20, 10, 10], "area": 100, "iscrowd": 0,
            "segmentation": [[50, 20, 60, 20, 60, 30]], "occ": 0, "truncate": 1, "direct": "back"},
           {"id": 3, "image_id": 1, "category_id": 7, "bbox": [0, 0, 0.5, 10], "area": 5, "iscrowd": 0, "segmentation": [[0, 0, 0.5, 0, 0.5, 10]]},
           {"id": 4, "image_id": 1, "category_id": 3, "bbox": [5, 5, 10, 10], "area": 100, "iscrowd": 1,
            "segmentation": {"size": [80, 100], "counts": [405, 10, 70, 10, 7505]}},
           {"id": 5, "image_id": 2, "category_id": 3, "bbox": [1, 1, 10, 10], "area": 100, "iscrowd": 0, "segmentation": [[1, 1, 11, 1, 11, 11]]},
           {"id": 6, "image_id": 9, "category_id": 3, "bbox": [1, 1, 10, 10], "area": 100, "iscrowd": 0, "segmentation": [[1, 1, 11, 1, 11, 11]]},
           {"id": 7, "image_id": 1, "category_id": 5, "bbox": [1, 1, 10, 10], "area": 100, "iscrowd": 0, "segmentation": [[1, 1, 11, 1, 11, 11]]}
         ]}
        """;

    [Fact]
    public void Extra_annotation_keys_order_filters_and_warnings()
    {
        using var tmp = new TempDir();
        string ann = tmp.Write("ann.json", SeedJson);
        var ds = (CocoDataset)DatasetBuilder.Build(Cfg($"dict(type='CocoDataset', ann_file='{ann}', classes=('person', 'car'))"));

        // cat_ids in the JSON's order, not the classes' order
        Assert.Equal([7L, 3L], ds.CatIds);
        // image 2 is 20 px wide (< 32) and image 3 has no annotation: training keeps only image 1
        Assert.Equal([1L], ds.ImgIds);
        var info = ds.GetAnnInfo(0);
        Assert.Equal([1L, 0L], info.Labels);
        Assert.Equal([10f, 10f, 30f, 40f, 50f, 20f, 60f, 30f], info.Bboxes);
        Assert.Equal([5f, 5f, 15f, 15f], info.BboxesIgnore);
        Assert.Equal(1, info.Extras[0]["occ"].GetInt32());
        Assert.Equal("back", info.Extras[1]["direct"].GetString());
        Assert.Equal([1L, 2L], info.AnnotationIds);
        Assert.Contains(ds.Warnings, w => w.Contains("image ids that are not in 'images'") && w.Contains("id 6"));
        Assert.Contains(ds.Warnings, w => w.Contains("category_id that is not in 'categories'") && w.Contains("id 7"));
        Assert.Contains(ds.Warnings, w => w.Contains("under 1 px") && w.Contains("annotation id 3"));

        var test = (CocoDataset)DatasetBuilder.Build(Cfg($"dict(type='CocoDataset', ann_file='{ann}', classes=['person', 'car'], test_mode=True)"));
        Assert.Equal(3, test.Count);
    }

    [Fact]
    public void Bad_inputs_give_one_clear_message()
    {
        using var tmp = new TempDir();
        string dup = tmp.Write("dup.json", SeedJson.Replace("\"id\": 2, \"image_id\": 1", "\"id\": 1, \"image_id\": 1"));
        var e = Assert.Throws<DetSharpException>(() => DatasetBuilder.Build(Cfg($"dict(type='CocoDataset', ann_file='{dup}', classes=('car',))")));
        Assert.Contains("both have id 1", e.Message);

        string via = tmp.Write("via.json", """{"a.jpg123": {"filename": "a.jpg", "regions": {}}}""");
        e = Assert.Throws<DetSharpException>(() => DatasetBuilder.Build(Cfg($"dict(type='CocoDataset', ann_file='{via}', classes=('car',))")));
        Assert.Contains("not a COCO annotation file", e.Message);

        string ann = tmp.Write("ann.json", SeedJson);
        e = Assert.Throws<DetSharpException>(() => DatasetBuilder.Build(Cfg($"dict(type='CocoDataset', ann_file='{ann}', classes=('bus',))")));
        Assert.Contains("categories[].name", e.Message);

        // the image file is missing: the message names the path and the record
        var ds = DatasetBuilder.Build(Cfg($"dict(type='CocoDataset', ann_file='{ann}', img_prefix='{tmp.Path}/', classes=('car',), pipeline=[dict(type='LoadImageFromFile')])"));
        e = Assert.Throws<DetSharpException>(() => ds.GetItem(0, new Random(0)));
        Assert.Contains("a.jpg", e.Message);
        Assert.Contains("image id 1", e.Message);
        File.WriteAllText(Path.Combine(tmp.Path, "a.jpg"), "not a jpeg");
        e = Assert.Throws<DetSharpException>(() => ds.GetItem(0, new Random(0)));
        Assert.Contains("not a readable image", e.Message);

        // a 2-point polygon stops poly2mask with the annotation named
        string bad = tmp.Write("bad.json", SeedJson.Replace("[[50, 20, 60, 20, 60, 30]]", "[[50, 20, 60, 20]]"));
        var badDs = (CocoDataset)DatasetBuilder.Build(Cfg($"dict(type='CocoDataset', ann_file='{bad}', classes=('car',), pipeline=[dict(type='LoadAnnotations', with_mask=True)])"));
        Assert.Contains(badDs.Warnings, w => w.Contains("polygon 0 has 4 numbers"));
        e = Assert.Throws<DetSharpException>(() => badDs.GetItem(0, new Random(0)));
        Assert.Contains("annotation id 2", e.Message);
    }

    [Fact]
    public void Cityscapes_drops_all_crowd_images_and_wrappers_repeat_and_balance()
    {
        using var tmp = new TempDir();
        string ann = tmp.Write("city.json", """
            {"images": [{"id": 1, "file_name": "a.png", "width": 2048, "height": 1024, "segm_file": "a_gtFine_instanceIds.png"},
                        {"id": 2, "file_name": "b.png", "width": 2048, "height": 1024, "segm_file": "b.png"},
                        {"id": 3, "file_name": "c.png", "width": 2048, "height": 1024, "segm_file": "c.png"}],
             "categories": [{"id": 24, "name": "person"}, {"id": 26, "name": "car"}],
             "annotations": [
               {"id": 1, "image_id": 1, "category_id": 24, "bbox": [2040, 10, 20, 30], "area": 600, "iscrowd": 0, "segmentation": [[1, 1, 5, 1, 5, 5]]},
               {"id": 2, "image_id": 2, "category_id": 26, "bbox": [50, 20, 10, 10], "area": 100, "iscrowd": 1, "segmentation": [[1, 1, 5, 1, 5, 5]]},
               {"id": 3, "image_id": 3, "category_id": 26, "bbox": [50, 20, 10, 10], "area": 100, "iscrowd": 0, "segmentation": [[1, 1, 5, 1, 5, 5]]}]}
            """);
        var ds = (CityscapesDataset)DatasetBuilder.Build(Cfg($"dict(type='CityscapesDataset', ann_file='{ann}')"));
        Assert.Equal(8, ds.Classes.Count);
        Assert.Equal([1L, 3L], ds.ImgIds);
        Assert.Equal("a_gtFine_instanceIds.png", ds.GetAnnInfo(0).SegMap);
        Assert.Single(ds.GetAnnInfo(0).Labels); // partly outside: kept (no overlap check)

        var rep = DatasetBuilder.Build(Cfg($"dict(type='RepeatDataset', times=3, dataset=dict(type='CityscapesDataset', ann_file='{ann}'))"));
        Assert.Equal(6, rep.Count);
        Assert.Equal(ds.Classes, rep.Classes);
        var concat = DatasetBuilder.Build(Cfg($"dict(type='CityscapesDataset', ann_file=['{ann}', '{ann}'])"));
        Assert.Equal(4, concat.Count);
        // person in 1 of 2 images (f = 0.5), car in 1 of 2: thr 1.0 -> r = sqrt(2) -> each image twice
        var cb = (ClassBalancedDataset)DatasetBuilder.Build(Cfg($"dict(type='ClassBalancedDataset', oversample_thr=1.0, dataset=dict(type='CityscapesDataset', ann_file='{ann}'))"));
        Assert.Equal(4, cb.Count);
        Assert.Equal(Math.Sqrt(2), cb.RepeatFactors[0], 12);
    }
}

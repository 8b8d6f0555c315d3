using DetSharp.Config;
using DetSharp.Datasets;
using DetSharp.Datasets.Transforms;
using DetSharp.TestSupport;
using OpenCvSharp;

namespace DetSharp.Core.Tests.Datasets;

/// <summary>
/// MultiImageMixDataset's own behaviour (its output against MMDetection's is in <c>YoloxTransformsTests</c>): the skip
/// list changed while training reaches the loader's workers, a transform that keeps dropping the sample stops with a
/// message, and the settings MMDetection refuses are refused.
/// </summary>
public sealed class MultiImageMixDatasetTests
{
    private static MultiImageMixDataset CocoMini(string pipeline, string extra = "")
    {
        string root = SharedData.FullPath("datasets", "coco_mini") + "/";
        return (MultiImageMixDataset)DatasetBuilder.Build(CocoDatasetTests.Cfg(
            $"dict(type='MultiImageMixDataset', dataset=dict(type='CocoDataset', data_root='{root}', ann_file='annotations/instances_train2017.json', " +
            $"img_prefix='train2017/', filter_empty_gt=False, pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True)]), pipeline={pipeline}{extra})"));
    }

    private static List<ImageShape> FirstBatches(DataLoader loader, int epoch, int count) =>
        loader.Epoch(epoch).Take(count).SelectMany(b =>
        {
            using (b) return b.Samples.Select(s => s.ImgShape).ToList();
        }).ToList();

    [SharedFact("datasets/coco_mini")]
    public void UpdateSkipTypeKeys_TurnsMosaicOff_InTheBatchesTheWorkersMakeAfterIt()
    {
        var dataset = CocoMini("[dict(type='Mosaic', img_scale=(32, 40))]");
        var loader = new DataLoader(dataset, samplesPerGpu: 2, workersPerGpu: 2, shuffle: false, seed: 0);

        Assert.All(FirstBatches(loader, 0, 3), s => Assert.Equal(new ImageShape(64, 80, 3), s));

        dataset.UpdateSkipTypeKeys(["Mosaic"]);
        Assert.Equal(["Mosaic"], dataset.SkipTypeKeys);
        var shapes = FirstBatches(loader, 1, 3);
        Assert.Equal(6, shapes.Count);
        Assert.All(shapes, s => Assert.NotEqual(new ImageShape(64, 80, 3), s));
        Assert.All(shapes, s => Assert.True(s.Width >= 300 && s.Height >= 200, $"{s} is not a coco image's own size"));

        dataset.UpdateSkipTypeKeys([]);
        Assert.All(FirstBatches(loader, 2, 2), s => Assert.Equal(new ImageShape(64, 80, 3), s));
    }

    [SharedFact("datasets/coco_mini")]
    public void A_transform_that_always_drops_the_sample_stops_after_max_refetch_tries()
    {
        var dataset = CocoMini("[dict(type='FilterAnnotations', min_gt_bbox_wh=(10000, 10000), keep_empty=True)]", ", max_refetch=3");
        var e = Assert.Throws<DetSharpException>(() => dataset.GetItem(0, new Random(0)));
        Assert.Contains("FilterAnnotations dropped the sample 3 times", e.Message);

        using var kept = CocoMini("[dict(type='FilterAnnotations', min_gt_bbox_wh=(10000, 10000), keep_empty=False)]").GetItem(0, new Random(0));
        Assert.Empty(kept.GtBboxes!);
        Assert.Empty(kept.GtLabels!);
    }

    [SharedFact("datasets/coco_mini")]
    public void Dynamic_scale_and_pipeline_entries_that_are_not_dicts_are_refused()
    {
        Assert.Contains("dynamic_scale is deprecated", Assert.Throws<DetSharpException>(() => CocoMini("[]", ", dynamic_scale=(640, 640)")).Message);
        Assert.Contains("pipeline[0] must be a transform dict", Assert.Throws<DetSharpException>(() => CocoMini("['Mosaic']")).Message);
        Assert.Contains("unexpected argument 'scale'", Assert.Throws<DetSharpException>(() => CocoMini("[]", ", scale=2")).Message);
    }

    [Fact]
    public void Mosaic_and_MixUp_outside_the_wrapper_say_where_they_belong()
    {
        using var sample = new DetSample { GtBboxes = [], GtLabels = [] };
        sample.SetImg(new Mat(8, 8, MatType.CV_8UC3, Scalar.All(0)));
        Assert.Contains("MultiImageMixDataset", Assert.Throws<DetSharpException>(() => new Mosaic().Apply(sample, new Random(0))).Message);
        Assert.Contains("MultiImageMixDataset", Assert.Throws<DetSharpException>(() => new MixUp().Apply(sample, new Random(0))).Message);
    }
}

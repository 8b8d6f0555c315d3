using DetSharp.Config;
using DetSharp.Datasets;
using DetSharp.Datasets.Transforms;
using OpenCvSharp;

namespace DetSharp.Core.Tests.Datasets;

public class PipelineAndLoaderTests
{
    private static ConfigDict Cfg(string text) => CocoDatasetTests.Cfg(text);

    private static IDetDataset Balloon(string pipeline, string split = "train", bool testMode = false) =>
        DatasetBuilder.Build(Cfg($"dict(type='CocoDataset', data_root='{SharedData.FullPath("datasets")}/', ann_file='balloon/{split}/annotation_coco.json', " +
            $"img_prefix='balloon/{split}/', classes=('balloon',), test_mode={(testMode ? "True" : "False")}, pipeline={pipeline})"));

    private const string TrainPipeline = """
        [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True, with_mask=True, poly2mask=False),
         dict(type='Resize', img_scale=[(666, 320), (666, 400)], multiscale_mode='value', keep_ratio=True),
         dict(type='RandomFlip', flip_ratio=0.5), dict(type='Normalize', mean=[103.53, 116.28, 123.675], std=[1.0, 1.0, 1.0], to_rgb=False),
         dict(type='Pad', size_divisor=32), dict(type='DefaultFormatBundle'), dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels', 'gt_masks'])]
        """;

    [SharedFact]
    public void Loader_groups_by_aspect_pads_batches_and_is_reproducible_for_any_worker_count()
    {
        var ds = Balloon(TrainPipeline);
        var one = new DataLoader(ds, samplesPerGpu: 2, workersPerGpu: 1, seed: 7);
        var two = new DataLoader(ds, samplesPerGpu: 2, workersPerGpu: 2, seed: 7);
        Assert.Equal(GroupSampler.BatchCount(ds.Flags, ds.Count, 2, true), one.BatchIndices(0).Length);
        foreach (var b in one.BatchIndices(0))
        {
            Assert.Equal(2, b.Length);
            Assert.Equal(ds.Flags[b[0]], ds.Flags[b[1]]);
        }
        var a = one.Epoch(0).Take(3).ToList();
        var c = two.Epoch(0).Take(3).ToList();
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(a[i].Indices, c[i].Indices);
            Assert.Equal(a[i].Shape, c[i].Shape);
            Assert.Equal(a[i].Images, c[i].Images);
            Assert.Equal(a[i].Samples[0].GtBboxes, c[i].Samples[0].GtBboxes);
            Assert.Equal(a[i].Shape.H, a[i].Samples.Max(s => s.ImageChwShape.H));
            Assert.Equal(0, a[i].Shape.H % 32);
            var meta = a[i].Samples[0].ImgMetas!;
            Assert.Equal(Collect.DefaultMetaKeys, meta.Keys);
            Assert.IsType<DetSharp.Structures.PolygonMasks>(a[i].Samples[0].GtMasks);
        }
        foreach (var b in a.Concat(c)) b.Dispose();
        Assert.NotEqual(one.BatchIndices(0).SelectMany(x => x), one.BatchIndices(1).SelectMany(x => x));
    }

    [SharedFact]
    public void A_pipeline_that_empties_a_training_sample_draws_another_image()
    {
        // a 5x5 crop mostly misses the balloons: MMDetection returns None and the dataset retries another index
        var ds = Balloon("[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True), dict(type='RandomCrop', crop_size=(5, 5))]");
        var rng = new Random(3);
        using var sample = ds.GetItem(0, rng);
        Assert.NotEmpty(sample.GtBboxes!);
        Assert.Equal(5, sample.ImgShape.Height);
    }

    [SharedFact]
    public void Test_pipeline_multi_scale_flip_aug_and_seed_autoaugment()
    {
        var test = Balloon("""
            [dict(type='LoadImageFromFile'), dict(type='MultiScaleFlipAug', img_scale=(1333, 800), flip=True,
              transforms=[dict(type='Resize', keep_ratio=True), dict(type='RandomFlip'), dict(type='Normalize', mean=[0, 0, 0], std=[1, 1, 1], to_rgb=True),
                          dict(type='Pad', size_divisor=32), dict(type='ImageToTensor', keys=['img']), dict(type='Collect', keys=['img'])])]
            """, "val", testMode: true);
        using var s = test.GetItem(0, new Random(0));
        Assert.Equal(2, s.AugSamples!.Count);
        Assert.False(s.AugSamples[0].Flip);
        Assert.True(s.AugSamples[1].Flip);
        Assert.Equal("horizontal", s.AugSamples[1].FlipDirection);
        Assert.Equal(0, s.AugSamples[0].ImageChwShape.H % 32);

        // the seed config's AutoAugment policies on the training image
        var train = Balloon("""
            [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
             dict(type='AutoAugment', policies=[[dict(type='Rotate', level=5, img_fill_val=(124, 116, 104), prob=0.5, scale=1)],
                 [dict(type='Rotate', level=7, img_fill_val=(124, 116, 104)), dict(type='Translate', level=5, prob=0.5, img_fill_val=(124, 116, 104))]]),
             dict(type='Shear', level=3, prob=1.0), dict(type='ColorTransform', level=4, prob=1.0), dict(type='BrightnessTransform', level=6, prob=1.0),
             dict(type='ContrastTransform', level=6, prob=1.0), dict(type='EqualizeTransform', prob=1.0), dict(type='PhotoMetricDistortion')]
            """);
        for (int seed = 0; seed < 3; seed++)
        {
            using var t = train.GetItem(4, new Random(seed));
            Assert.Equal(t.GtLabels!.Length * 4, t.GtBboxes!.Length);
            Assert.Equal(t.GtLabels.Length, t.GtMasks!.Count);
            Assert.Equal(MatType.CV_32F, t.Img!.Depth());
        }
    }

    [Fact]
    public void Equalize_and_contrast_follow_mmcv()
    {
        // a 2-level image: PIL equalisation maps the lower level to 0 and the upper to lut value
        var data = new byte[4 * 4 * 3];
        for (int i = 0; i < 16; i++) for (int k = 0; k < 3; k++) data[i * 3 + k] = i < 8 ? (byte)10 : (byte)200;
        using var img = Mat.FromPixelData(4, 4, MatType.CV_8UC3, data);
        var s = new DetSample();
        s.SetImg(img.Clone());
        new EqualizeTransform(prob: 1.0).Apply(s, new Random(0));
        // step = (16 - 8) // 255 = 0 -> unchanged
        Assert.Equal(10, s.Img!.At<Vec3b>(0, 0)[0]);
        new ContrastTransform(level: 0, prob: 1.0).Apply(s, new Random(0));
        // factor 0.1: 10*0.1 + mean*0.9 where mean = round(gray mean) = 105
        Assert.Equal((byte)(10 * 0.1f + 105 * 0.9f), s.Img!.At<Vec3b>(0, 0)[0]);
        s.Dispose();
    }
}

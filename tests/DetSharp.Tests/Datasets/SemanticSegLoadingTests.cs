using DetSharp.Config;
using DetSharp.Datasets;
using DetSharp.Engine;
using DetSharp.Models.Detectors;
using DetSharp.Tests.Models;
using OpenCvSharp;
using static TorchSharp.torch;

namespace DetSharp.Tests.Datasets;

/// <summary>
/// HTC's semantic segmentation maps end to end on a synthetic stuff map: <c>seg_prefix</c> + <c>LoadAnnotations(with_seg=True)</c>,
/// Resize, RandomFlip, Pad (255), SegRescale, DefaultFormatBundle, Collect, collation ([N, 1, H, W] padded with 255) and
/// the slim HTC of the htc fixtures training its semantic branch on the collated batch.
/// </summary>
public sealed class SemanticSegLoadingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("detsharp-semseg").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>
    /// One 48×40 image with one box and its stuff map (a.png): class 1 left of x = 24, class 3 right of it. The train
    /// pipeline is HTC's with a 96×80 scale (factor 2), a certain horizontal flip and SegRescale 1/8.
    /// </summary>
    private IDetDataset Dataset(bool withSeg = true)
    {
        using (var img = new Mat(40, 48, MatType.CV_8UC3, new Scalar(40, 90, 160)))
            Cv2.ImWrite(Path.Combine(_dir, "a.jpg"), img);
        Directory.CreateDirectory(Path.Combine(_dir, "stuff"));
        using (var map = new Mat(40, 48, MatType.CV_8UC1, new Scalar(3)))
        {
            map[new Rect(0, 0, 24, 40)].SetTo(new Scalar(1));
            Cv2.ImWrite(Path.Combine(_dir, "stuff", "a.png"), map);
        }
        File.WriteAllText(Path.Combine(_dir, "ann.json"), """
            {"images": [{"id": 1, "file_name": "a.jpg", "width": 48, "height": 40}],
             "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [4, 4, 20, 16], "area": 320, "iscrowd": 0,
                              "segmentation": [[4, 4, 24, 4, 24, 20, 4, 20]]}],
             "categories": [{"id": 1, "name": "thing"}]}
            """);
        string seg = withSeg ? "True" : "False";
        string keys = withSeg ? ", 'gt_semantic_seg'" : "";
        var cfg = Config.Config.FromText($$"""
            data = dict(type='CocoDataset', ann_file='{{_dir}}/ann.json', img_prefix='{{_dir}}/', seg_prefix='{{_dir}}/stuff/', classes=('thing',),
                pipeline=[
                    dict(type='LoadImageFromFile'),
                    dict(type='LoadAnnotations', with_bbox=True, with_mask=True, with_seg={{seg}}),
                    dict(type='Resize', img_scale=(96, 80), keep_ratio=True),
                    dict(type='RandomFlip', flip_ratio=1.0),
                    dict(type='Normalize', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True),
                    dict(type='Pad', size_divisor=32),
                    dict(type='SegRescale', scale_factor=1 / 8),
                    dict(type='DefaultFormatBundle'),
                    dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels', 'gt_masks'{{keys}}]),
                ])
            """, "semseg.py");
        return DatasetBuilder.Build(cfg.Get<ConfigDict>("data"));
    }

    [Fact]
    public void Stuff_map_is_resized_flipped_padded_with_255_rescaled_and_collated()
    {
        var sample = Dataset().GetItem(0, new Random(0));
        using var batch = DetCollate.Collate([sample], withGt: true);
        try
        {
            var seg = batch.GtSemanticSeg!;
            Assert.Equal([1L, 1, 12, 12], seg.shape);
            Assert.Equal(ScalarType.Byte, seg.dtype);
            // 96×80 after Resize, flipped (class 3 now on the left half), padded to 96×96 with 255, then every 8th pixel
            // (cv2's nearest: source = 8·destination): columns 0–5 class 3, 6–11 class 1, rows 10–11 padding.
            var v = seg[0, 0].data<byte>().ToArray();
            for (int y = 0; y < 12; y++)
                for (int x = 0; x < 12; x++)
                    Assert.Equal(y >= 10 ? 255 : x < 6 ? 3 : 1, v[y * 12 + x]);
        }
        finally
        {
            sample.Dispose();
        }
    }

    [Fact]
    public void Collation_pads_smaller_maps_with_the_seg_pad_value_and_refuses_a_batch_where_one_lacks_its_map()
    {
        var ds = Dataset();
        var a = ds.GetItem(0, new Random(0));
        var b = ds.GetItem(0, new Random(0));
        try
        {
            b.SetSeg("gt_semantic_seg", b.GetSeg("gt_semantic_seg")!.Crop(0, 0, 7, 5));
            b.SegCollatePadValue = 9;
            using (var batch = DetCollate.Collate([a, b], withGt: true))
            {
                var seg = batch.GtSemanticSeg!;
                Assert.Equal([2L, 1, 12, 12], seg.shape);
                Assert.Equal(3, seg[1, 0, 4, 5].item<byte>());
                Assert.Equal(1, seg[1, 0, 4, 6].item<byte>());
                Assert.Equal(9, seg[1, 0, 4, 7].item<byte>());
                Assert.Equal(9, seg[1, 0, 5, 0].item<byte>());
            }
            b.CollectedKeys = ["img", "gt_bboxes", "gt_labels", "gt_masks"];
            var e = Assert.Throws<DetSharpException>(() => DetCollate.Collate([a, b], withGt: true));
            Assert.Contains("gt_semantic_seg", e.Message);
        }
        finally
        {
            a.Dispose();
            b.Dispose();
        }
    }

    [Fact]
    public void Htc_trains_its_semantic_branch_on_the_collated_maps()
    {
        string fixture = Path.Combine(RepoPaths.Root, "tests", "fixtures", "mmdet-2.28", "htc", "htc_semantic.model_config.py");
        TorchSharp.torch.manual_seed(0);
        using var model = (HybridTaskCascade)ModelFixtures.Build(ModelFixtures.ModelConfig(fixture));
        Assert.True(model.WithSemantic);
        var sample = Dataset().GetItem(0, new Random(0));
        using var batch = DetCollate.Collate([sample], withGt: true);
        try
        {
            TorchSharp.torch.manual_seed(1);
            var losses = model.ForwardTrain((IDataBatch)batch);
            double fromBatch = losses["loss_semantic_seg"][0].item<float>();
            Assert.True(double.IsFinite(fromBatch) && fromBatch > 0, $"loss_semantic_seg = {fromBatch}");
            // The same loss as HTC's forward_train given the map tensor itself.
            TorchSharp.torch.manual_seed(1);
            var direct = model.ForwardTrain(batch.Img, batch.ImgMetas, batch.GtBboxes!, batch.GtLabels!, batch.GtMasks, batch.GtBboxesIgnore,
                batch.GtSemanticSeg);
            Assert.Equal(direct["loss_semantic_seg"][0].item<float>(), fromBatch, 6);
        }
        finally
        {
            sample.Dispose();
        }

        var plain = Dataset(withSeg: false).GetItem(0, new Random(0));
        using var noSeg = DetCollate.Collate([plain], withGt: true);
        try
        {
            Assert.Null(noSeg.GtSemanticSeg);
            var e = Assert.Throws<DetSharpException>(() => model.ForwardTrain((IDataBatch)noSeg));
            Assert.Contains("gt_semantic_seg", e.Message);
        }
        finally
        {
            plain.Dispose();
        }
    }
}

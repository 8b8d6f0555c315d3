using DetSharp.Config;
using DetSharp.Models;
using DetSharp.Models.Detectors;
using DetSharp.Models.RoIHeads;
using DetSharp.Models.TaskModules;
using DetSharp.Registry;
using DetSharp.Structures;
using DetSharp.Tests.TestSupport;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.RoIHeads;

/// <summary>
/// The two-stage variants' parts by hand: MaskIoUHead's targets and loss, OHEMSampler's hard mining, the C4 models'
/// shared head; and the C4 and Fast R-CNN zoo models end to end on a small image.
/// </summary>
public sealed class RCnnVariantTests
{
    [Fact]
    public void MaskIouTargets_DivideTheTargetAreaByTheShareOfTheInstanceInsideTheProposal()
    {
        ComponentRegistration.EnsureRegistered();
        // GT: a 4×4 square in an 8×8 image (area 16); the proposal [0, 0, 2.7, 4] (cut to int: [0, 0, 2, 4]) holds half of it
        var mask = new byte[64];
        for (int y = 0; y < 4; y++) for (int x = 0; x < 4; x++) mask[y * 8 + x] = 1;
        var gtMasks = new BitmapMasks([mask], 8, 8);
        var proposal = tensor(new float[] { 0, 0, 2.7f, 4 }).view(1, 4);
        var gt = tensor(new float[] { 0, 0, 4, 4 }).view(1, 4);
        var assign = new AssignResult(1, tensor(new long[] { 1 }), tensor(new float[] { 0.6f }), tensor(new long[] { 2 }));
        var sampling = new SamplingResult(tensor(new long[] { 0 }), zeros(0, ScalarType.Int64), proposal, gt, assign, zeros(1, ScalarType.Byte));
        // the target is all foreground (area 4); the logits pass mask_thr_binary 0.5 in 3 of 4 cells, all inside the target
        var targets = ones(1, 2, 2);
        var logits = tensor(new float[] { 5, 5, -5, 5 }).view(1, 2, 2);
        var iou = MaskIoUHead.GetTargets([sampling], [gtMasks], logits, targets, new ConfigDict { ["mask_thr_binary"] = 0.5 });
        // overlap 3, predicted area 3, full GT area 4 / 0.5 = 8: 3 / (3 + 8 − 3)
        Assert.Equal(0.375f, iou[0].item<float>(), 5);

        using var head = new MaskIoUHead(numConvs: 1, numFcs: 1, roiFeatSize: 2, inChannels: 2, convOutChannels: 2, fcOutChannels: 4, numClasses: 3);
        // only targets > 0 count: 0.5 · mean((0.5 − 0.375)², (1 − 0.5)²)
        var loss = head.Loss(tensor(new float[] { 0.5f, 1, 7 }), tensor(new float[] { 0.375f, 0.5f, 0 }));
        Assert.Equal(0.5 * (0.125 * 0.125 + 0.25) / 2, loss.item<float>(), 5);
        Assert.Equal(new long[] { 2, 3 }, head.Forward(randn(2, 2, 2, 2), randn(2, 4, 4)).shape);
    }

    [Fact]
    public void Ohem_KeepsTheNegativesWithTheLargestClassificationLoss()
    {
        ComponentRegistration.EnsureRegistered();
        using var bboxHead = Registries.Models.Build<ConvFCBBoxHead>(new ConfigDict { ["type"] = "BBoxHead", ["in_channels"] = 1L, ["roi_feat_size"] = 1L, ["num_classes"] = 2L });
        // proposal 0 matches the GT; 1..4 are negatives whose background logit is −x1 (the further right, the harder)
        var proposals = tensor(new float[] { 0, 0, 10, 10, 1, 20, 2, 21, 4, 20, 5, 21, 3, 20, 4, 21, 2, 20, 3, 21 }).view(5, 4);
        var gt = tensor(new float[] { 0, 0, 10, 10 }).view(1, 4);
        var assign = new AssignResult(1, tensor(new long[] { 1, 0, 0, 0, 0 }), zeros(5), tensor(new long[] { 1, -1, -1, -1, -1 }));
        var context = new RoISamplerContext(rois => (stack([zeros(rois.shape[0]), zeros(rois.shape[0]), -rois[.., 1]], 1), zeros(rois.shape[0], 8)),
            bboxHead.LossCls, bboxHead.BboxCoder, 2);
        // 4 samples, 1 positive expected; the GT added as a proposal is the second positive, so 2 negatives remain
        var sampler = new OHEMSampler(num: 4, posFraction: 0.5);
        var (result, weights) = sampler.Sample(assign, proposals, gt, tensor(new long[] { 1 }), context);
        Assert.Null(weights);
        Assert.Equal(new long[] { 0, 1 }, result.PosInds.data<long>().ToArray());
        // with the GT prepended the negatives are 2..5 (x1 = 1, 4, 3, 2): the two hardest are x1 = 4 and 3, sorted
        Assert.Equal(new long[] { 3, 4 }, result.NegInds.data<long>().ToArray());
    }

    private static ConfigDict ZooModel(string relative, params (string Path, object Value)[] changes)
    {
        var model = Config.Config.FromFile(SharedData.FullPath("mmdet-configs-2.28", relative)).Get<ConfigDict>("model").Clone();
        model.Remove("pretrained");
        ((ConfigDict)model["backbone"]!)["init_cfg"] = null;
        foreach (var (path, value) in changes)
        {
            var keys = path.Split('.');
            var d = model;
            foreach (var k in keys[..^1]) d = (ConfigDict)d[k]!;
            d[keys[^1]] = value;
        }
        return model;
    }

    [SharedFact("mmdet-configs-2.28")]
    public void C4FasterRcnn_TrainsAndTests_WithTheSharedResLayerOnTheRois()
    {
        ComponentRegistration.EnsureRegistered();
        // few RoIs: res5 on 14×14 RoIs is 2048 channels wide
        using var detector = (TwoStageDetector)ModelFixtures.Build(ZooModel("faster_rcnn/faster_rcnn_r50_caffe_c4_1x_coco.py",
            ("roi_head.bbox_head.num_classes", 3L), ("roi_head.shared_head.init_cfg", null!), ("train_cfg.rpn_proposal.max_per_img", 8L),
            ("train_cfg.rcnn.sampler.num", 8L), ("test_cfg.rpn.max_per_img", 6L)));
        var sharedHead = Assert.IsType<ResLayerSharedHead>(detector.RoiHead.SharedHead);
        detector.train();
        Assert.All(sharedHead.modules().OfType<DetSharp.Models.Common.BatchNorm2d>(), bn => Assert.False(bn.training)); // norm_eval
        using var scope = NewDisposeScope();
        manual_seed(0);
        var img = randn(1, 3, 64, 96);
        var meta = new ImgMeta((64, 96), (64, 96), (64, 96), [1f, 1f, 1f, 1f], false, null, null);
        var losses = detector.ForwardTrain(img, [meta], [tensor(new float[] { 10, 10, 50, 40 }).view(1, 4)], [tensor(new long[] { 1 })]);
        foreach (var key in new[] { "loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "loss_bbox" })
            Assert.True(float.IsFinite(losses[key].Sum(t => t.item<float>())), key);
        detector.eval();
        var result = detector.SimpleTest(img, [meta])[0];
        Assert.True(result.Count <= 6 * 3);
    }

    [SharedFact("mmdet-configs-2.28")]
    public void FastRcnn_TakesGivenProposals_AndSaysThatThePipelineCannotLoadThem()
    {
        ComponentRegistration.EnsureRegistered();
        using var detector = (FastRCNN)ModelFixtures.Build(ZooModel("fast_rcnn/fast_rcnn_r50_fpn_1x_coco.py",
            ("backbone.depth", 18L), ("backbone.base_channels", 8L), ("neck.in_channels", new ConfigList([8L, 16L, 32L, 64L])), ("neck.out_channels", 16L),
            ("roi_head.bbox_roi_extractor.out_channels", 16L), ("roi_head.bbox_head.in_channels", 16L), ("roi_head.bbox_head.num_classes", 3L)));
        using var scope = NewDisposeScope();
        var img = randn(1, 3, 64, 96);
        var meta = new ImgMeta((64, 96), (64, 96), (64, 96), [1f, 1f, 1f, 1f], false, null, null);
        var proposals = tensor(new float[] { 8, 8, 48, 40, 30, 5, 90, 60 }).view(2, 4);
        detector.train();
        var losses = detector.ForwardTrainWithProposals(img, [meta], [proposals], [tensor(new float[] { 10, 10, 50, 40 }).view(1, 4)], [tensor(new long[] { 0 })]);
        Assert.Equal(["loss_cls", "acc", "loss_bbox"], losses.Items.Select(i => i.Key));
        detector.eval();
        Assert.True(detector.SimpleTestWithProposals(img, [meta], [proposals])[0].Count <= 2 * 3);
        var e = Assert.Throws<DetSharpException>(() => detector.SimpleTest(img, [meta]));
        Assert.Contains("proposal_file", e.Message);
    }
}

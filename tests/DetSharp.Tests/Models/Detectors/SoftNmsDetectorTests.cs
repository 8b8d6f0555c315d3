using DetSharp.Config;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Detectors;

/// <summary>
/// MMDetection's <c>faster_rcnn_r50_fpn_soft_nms_1x_coco.py</c> (<c>test_cfg.rcnn.nms=dict(type='soft_nms', ...)</c>), built
/// slim, tests: its R-CNN post-processing runs soft-NMS, which keeps boxes that plain NMS of the same model suppresses
/// and lowers their scores instead.
/// </summary>
public sealed class SoftNmsDetectorTests
{
    private const string Config = "mmdet-configs-2.28/faster_rcnn/faster_rcnn_r50_fpn_soft_nms_1x_coco.py";

    private static ConfigDict Slim(params string[] more)
    {
        var cfg = DetSharp.Config.Config.FromFile(SharedData.FullPath(Config));
        cfg.MergeFromOptions(["model.backbone.depth=18", "model.backbone.base_channels=16", "model.backbone.init_cfg=None",
            "model.neck.in_channels=[16,32,64,128]", "model.neck.out_channels=32", "model.rpn_head.in_channels=32",
            "model.rpn_head.feat_channels=32", "model.roi_head.bbox_roi_extractor.out_channels=32",
            "model.roi_head.bbox_head.in_channels=32", "model.roi_head.bbox_head.fc_out_channels=64",
            "model.roi_head.bbox_head.num_classes=8", "model.test_cfg.rcnn.score_thr=0.0", "model.test_cfg.rcnn.max_per_img=5000", .. more]);
        return cfg.Get<ConfigDict>("model");
    }

    [SharedFact("mmdet-configs-2.28")]
    public void The_soft_nms_config_tests_and_keeps_what_nms_suppresses()
    {
        using var scope = NewDisposeScope();
        var model = Slim();
        Assert.Equal("soft_nms", model.Get<string>("test_cfg.rcnn.nms.type"));
        var batch = SyntheticData.Batch();
        using var soft = ModelFixtures.Build(model);
        using var hard = ModelFixtures.Build(Slim("model.test_cfg.rcnn.nms.type=nms"));
        hard.load_state_dict(soft.state_dict());
        soft.eval();
        hard.eval();

        var softResults = soft.SimpleTest(batch.Img, batch.Metas);
        var hardResults = hard.SimpleTest(batch.Img, batch.Metas);

        for (int i = 0; i < softResults.Count; i++)
        {
            Assert.InRange(softResults[i].Count, 1, 5000); // max_per_img, raised so that neither result is capped
            Assert.True(softResults[i].Count > hardResults[i].Count, $"soft-NMS kept {softResults[i].Count}, NMS {hardResults[i].Count}");
            // The best box of each class is selected first and keeps its score under both.
            Assert.Equal(hardResults[i].Scores.Max(), softResults[i].Scores.Max(), 5);
        }
    }
}

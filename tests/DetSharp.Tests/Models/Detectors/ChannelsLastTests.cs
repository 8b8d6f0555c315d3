using DetSharp.Config;
using DetSharp.Models.Detectors;
using DetSharp.Tests.TestSupport;
using DetSharp.Utils;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Detectors;

/// <summary>
/// <see cref="BaseDetector.UseChannelsLast"/>: the backbone and neck run in NHWC memory format and compute what they
/// compute in NCHW — the seed's slim Cascade Mask R-CNN + AugFPN (consistent supervision on) gives the same losses and
/// gradients for a training batch and the same detections in eval mode; only the backbone's and neck's weights change
/// layout; a model with a layer not checked in that layout stays as it is. The samplers draw from torch's global
/// generator, so the tests run alone (no other test's draws between the two training steps).
/// </summary>
[Collection(ProcessWideCollection.Name)]
public sealed class ChannelsLastTests(ITestOutputHelper output)
{
    [Fact]
    public void Seed_model_trains_and_detects_as_in_nchw()
    {
        var cfg = TrainingTests.SlimSeedModel(consistentSupervision: true);
        manual_seed(5);
        using var nchw = ModelFixtures.Build(cfg);
        using var nhwc = ModelFixtures.Build(cfg);
        using (no_grad())
            foreach (var (name, p) in nhwc.named_parameters()) p.copy_(nchw.state_dict()[name]);
        foreach (var (name, buffer) in nhwc.named_buffers()) buffer.copy_(nchw.state_dict()[name]);

        Assert.True(nhwc.UseChannelsLast());
        var weights = nhwc.state_dict();
        Assert.True(ChannelsLast.Is(weights["backbone.layer2.0.conv2.weight"]));
        Assert.True(ChannelsLast.Is(weights["neck.fpn_convs.0.conv.weight"]));
        Assert.False(ChannelsLast.Is(weights["rpn_head.rpn_conv.weight"]));
        Assert.False(ChannelsLast.Is(weights[weights.Keys.First(k => k.StartsWith("roi_head.mask_head", StringComparison.Ordinal) && k.EndsWith("conv.weight", StringComparison.Ordinal))]));

        var batch = SyntheticData.Batch();
        var (lossA, gradsA) = TrainStep(nchw, batch);
        var (lossB, gradsB) = TrainStep(nhwc, batch);
        Assert.Equal(lossA.Keys, lossB.Keys);
        foreach (var key in lossA.Keys)
            Assert.True(Math.Abs(lossA[key] - lossB[key]) <= 1e-4 * Math.Max(1, Math.Abs(lossA[key])), $"{key}: {lossA[key]} vs {lossB[key]}");
        double worst = 0;
        string worstName = "";
        foreach (var (name, g) in gradsA)
        {
            double scale = Math.Max(g.abs().max().item<float>(), 1e-6);
            double diff = (g - gradsB[name]).abs().max().item<float>() / scale;
            if (diff > worst) (worst, worstName) = (diff, name);
        }
        output.WriteLine($"{lossA.Count} losses equal within 1e-4; largest gradient difference {worst:g3} of the tensor's largest ({worstName})");
        Assert.True(worst < 1e-3, $"{worstName}: gradients differ by {worst:g3} of their largest value");

        nchw.eval();
        nhwc.eval();
        using var noGrad = no_grad();
        var a = nchw.SimpleTest(batch.Img, batch.Metas)[0];
        var b = nhwc.SimpleTest(batch.Img, batch.Metas)[0];
        Assert.True(a.Count > 10, $"only {a.Count} detections to compare");
        Assert.Equal(a.Labels, b.Labels);
        double boxDiff = a.Bboxes.Zip(b.Bboxes, (x, y) => Math.Abs((double)x - y)).Max();
        double scoreDiff = a.Scores.Zip(b.Scores, (x, y) => Math.Abs((double)x - y)).Max();
        output.WriteLine($"{a.Count} detections, boxes within {boxDiff:g3} px, scores within {scoreDiff:g3}");
        Assert.True(boxDiff < 1e-2 && scoreDiff < 1e-4, $"detections differ: boxes {boxDiff:g3} px, scores {scoreDiff:g3}");
    }

    [Theory]
    [InlineData("dcn")]
    [InlineData("pafpn")]
    public void A_model_with_layers_not_checked_in_nhwc_stays_nchw(string change)
    {
        string[] options = change == "pafpn" ? ["model.neck.type=PAFPN"]
            : ["model.backbone.depth=50", "model.neck.in_channels=[64,128,256,512]", "model.backbone.stage_with_dcn=(False,True,True,True)"];
        var config = Config.Config.FromFile(ModelFixtures.RepoConfig("mask_rcnn/mask_rcnn_r50_fpn_1x_coco.py"));
        config.MergeFromOptions(["model.backbone.depth=18", "model.backbone.base_channels=16", "model.backbone.init_cfg=None",
            "model.neck.in_channels=[16,32,64,128]", "model.neck.out_channels=32", "model.rpn_head.in_channels=32", "model.rpn_head.feat_channels=32",
            "model.roi_head.bbox_roi_extractor.out_channels=32", "model.roi_head.mask_roi_extractor.out_channels=32",
            "model.roi_head.bbox_head.in_channels=32", "model.roi_head.mask_head.in_channels=32", .. options]);
        var modelCfg = config.Get<ConfigDict>("model");
        if (change == "dcn")
            modelCfg.Get<ConfigDict>("backbone")["dcn"] = new ConfigDict { ["type"] = "DCN", ["deform_groups"] = 1L, ["fallback_on_stride"] = false };
        using var model = ModelFixtures.Build(modelCfg);
        Assert.False(model.UseChannelsLast());
        Assert.False(model.ChannelsLastFeatures);
        Assert.False(ChannelsLast.Is(model.state_dict()["backbone.conv1.weight"]));
    }

    private static (Dictionary<string, double> Losses, Dictionary<string, Tensor> Grads) TrainStep(BaseDetector model,
        (Tensor Img, DetSharp.Models.ImgMeta[] Metas, Tensor[] Boxes, Tensor[] Labels, DetSharp.Structures.IInstanceMasks[] Masks) b)
    {
        model.train();
        // The samplers draw from torch's generator: the same draws for both layouts.
        manual_seed(11);
        using var scope = NewDisposeScope();
        var (total, log) = model.ForwardTrain(b.Img, b.Metas, b.Boxes, b.Labels, b.Masks).Parse();
        total.backward();
        var grads = new Dictionary<string, Tensor>();
        foreach (var (name, p) in model.named_parameters())
            if (p.grad is { } g) grads[name] = g.detach().clone().contiguous().MoveToOuterDisposeScope();
        return (log, grads);
    }
}

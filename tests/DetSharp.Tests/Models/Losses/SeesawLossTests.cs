using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Models.Losses;
using DetSharp.Models.RoIHeads;
using DetSharp.Tests.TestSupport;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Losses;

/// <summary>
/// The LVIS predictors against MMDetection 2.28.2 (<c>tests/fixtures/mmdet-2.28/seesaw/seesaw.json</c>, made by
/// <c>tools/oracle/seesaw.py</c>): SeesawLoss's two losses, counts, accuracies and scores, and NormedLinear's output,
/// within 1e-5 relative; then both inside a Shared2FCBBoxHead as the seesaw configs set it up.
/// </summary>
public sealed class SeesawLossTests
{
    private const int NumClasses = 5;

    private static void Close(Tensor expected, Tensor actual, double rtol = 1e-5) =>
        Assert.True(actual.allclose(expected, rtol: rtol, atol: 1e-6), $"expected [{string.Join(", ", expected.data<float>().ToArray())}], got [{string.Join(", ", actual.data<float>().ToArray())}]");

    [Theory]
    [InlineData("default", 0.8, 2.0, 1e-2, 1.0)]
    [InlineData("p_only", 0.8, 0.0, 1e-2, 2.0)]
    [InlineData("q_only", 0.0, 2.0, 0.05, 1.0)]
    public void Losses_and_counts_equal_mmdetections(string name, double p, double q, double eps, double lossWeight)
    {
        using var fixture = new OracleFixture("seesaw", "seesaw.json");
        using var scope = NewDisposeScope();
        using var loss = new SeesawLoss(p: p, q: q, numClasses: NumClasses, eps: eps, lossWeight: lossWeight);
        var clsScore = fixture.Float("cls_score");
        var labels = fixture.Long("labels");
        var weights = fixture.Float("label_weights");
        loss.CumSamples.copy_(fixture.Float("cum_samples_before"));
        double avg = Math.Max((weights > 0).sum().item<long>(), 1.0);

        var parts = loss.Losses(clsScore, labels, weights, avg).ToDictionary(kv => kv.Name, kv => kv.Value);

        Assert.Equal(["loss_cls_objectness", "loss_cls_classes"], parts.Keys);
        Close(fixture.Float($"{name}.loss_cls_objectness"), parts["loss_cls_objectness"].reshape(1));
        Close(fixture.Float($"{name}.loss_cls_classes"), parts["loss_cls_classes"].reshape(1));
        Close(fixture.Float($"{name}.cum_samples_after"), loss.CumSamples);

        loss.CumSamples.copy_(fixture.Float("cum_samples_before"));
        var unweighted = loss.Losses(clsScore, labels, null, null).ToDictionary(kv => kv.Name, kv => kv.Value);
        Close(fixture.Float($"{name}.no_weights_sum"), unweighted["loss_cls_classes"].reshape(1));
    }

    [Fact]
    public void Activation_accuracies_and_return_dict_false_equal_mmdetections()
    {
        using var fixture = new OracleFixture("seesaw", "seesaw.json");
        using var scope = NewDisposeScope();
        using var loss = new SeesawLoss(numClasses: NumClasses, returnDict: false);
        var clsScore = fixture.Float("cls_score");
        var labels = fixture.Long("labels");

        Close(fixture.Float("activation"), loss.GetActivation(clsScore));
        var acc = loss.GetAccuracy(clsScore, labels).ToDictionary(kv => kv.Name, kv => kv.Value);
        Close(fixture.Float("acc_objectness"), acc["acc_objectness"].reshape(1));
        Close(fixture.Float("acc_classes"), acc["acc_classes"].reshape(1));
        Assert.Equal(NumClasses + 2, loss.GetClsChannels(NumClasses));
        Assert.Throws<DetSharpException>(() => loss.GetClsChannels(NumClasses + 1));

        var weights = fixture.Float("label_weights");
        loss.CumSamples.copy_(fixture.Float("cum_samples_before"));
        var single = Assert.Single(loss.Losses(clsScore, labels, weights, Math.Max((weights > 0).sum().item<long>(), 1.0)));
        Assert.Equal("loss_cls", single.Name);
        Close(fixture.Float("default.loss_cls_objectness") + fixture.Float("default.loss_cls_classes"), single.Value.reshape(1));
    }

    [Fact]
    public void Normed_linear_equals_mmdetections()
    {
        using var fixture = new OracleFixture("seesaw", "seesaw.json");
        using var scope = NewDisposeScope();
        using var fc = new NormedLinear(16, NumClasses + 2, tempearture: 20);
        using (no_grad())
        {
            fc.get_parameter("weight")!.copy_(fixture.Float("normed.weight"));
            fc.get_parameter("bias")!.copy_(fixture.Float("normed.bias"));
        }

        Close(fixture.Float("normed.y"), fc.forward(fixture.Float("normed.x")));
    }

    [Fact]
    public void A_bbox_head_with_seesaw_loss_and_a_normed_predictor_reports_mmdetections_entries()
    {
        using var scope = NewDisposeScope();
        var cfg = PyConfigParser.Evaluate("""
            head = dict(type='Shared2FCBBoxHead', in_channels=8, fc_out_channels=16, roi_feat_size=2, num_classes=5,
                        cls_predictor_cfg=dict(type='NormedLinear', tempearture=20),
                        loss_cls=dict(type='SeesawLoss', p=0.8, q=2.0, num_classes=5, loss_weight=1.0))
            """).Get<ConfigDict>("head");
        using var head = Builders.Model<ConvFCBBoxHead>(cfg);
        // MMDetection's order (module by module, buffers with their module): the loss's counts first.
        Assert.Equal(["loss_cls.cum_samples\t[6]", "fc_cls.weight\t[7, 16]", "fc_cls.bias\t[7]"], ModuleTools.StateDictTsv(head).Split('\n').Take(3));
        Assert.Equal(new long[] { NumClasses + 2, 16 }, head.state_dict()["fc_cls.weight"].shape);

        manual_seed(0);
        var (cls, reg) = head.Forward(randn(6, 8, 2, 2));
        var rois = cat([zeros(6, 1), tensor(new float[] { 0, 0, 10, 10 }).repeat(6, 1)], 1);
        var targets = new BBoxTargets(tensor(new long[] { 0, 1, 2, 5, 5, 4 }), ones(6), zeros(6, 4), ones(6, 4));
        var losses = head.Loss(cls, reg, rois, targets);

        Assert.Equal(["loss_cls_objectness", "loss_cls_classes", "acc_objectness", "acc_classes", "loss_bbox"], losses.Items.Select(kv => kv.Key));
        Assert.Equal(new float[] { 1, 1, 1, 0, 1, 2 }, ((SeesawLoss)head.LossCls).CumSamples.data<float>().ToArray());
        var meta = DetSharp.Models.ImgMeta.Unscaled(20, 20);
        var (dets, labels) = head.GetBboxes(rois, cls, reg, meta, rescale: false, PyConfigParser.Evaluate("rcnn = dict(score_thr=0.0, nms=dict(type='nms', iou_threshold=0.5), max_per_img=100)\n").Get<ConfigDict>("rcnn"));
        Assert.True(dets.shape[0] > 0);
        Assert.All(labels.data<long>().ToArray(), l => Assert.InRange(l, 0, NumClasses - 1));
    }
}

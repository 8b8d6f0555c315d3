using DetSharp.Config;
using DetSharp.Models;
using DetSharp.Models.RoIHeads;
using DetSharp.Registry;
using DetSharp.Tests.TestSupport;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.RoIHeads;

/// <summary>
/// PISARoIHead with ScoreHLRSampler (ISR-N), isr (ISR-P) and carl against MMDetection on the fixed batch of
/// tools/oracle/pisa.py: MMDetection's initial weights, given features and proposals, every RoI sampled (1e-4 relative).
/// </summary>
public sealed class PISARoIHeadTests
{
    private static PISARoIHead Load(OracleFixture fx, Action<ConfigDict>? edit = null)
    {
        ComponentRegistration.EnsureRegistered();
        var cfg = Config.Config.FromFile(Path.Combine(fx.Folder, "roi_head_config.py")).Get<ConfigDict>("roi_head");
        edit?.Invoke(cfg);
        var head = Registries.Models.Build<PISARoIHead>(cfg);
        var report = CheckpointLoader.Load(head, Path.Combine(fx.Folder, "pisa_roi_head.pth"), strict: true);
        Assert.True(report.ExactMatch, report.Message);
        return head;
    }

    private static DetSharp.Engine.LossDict Losses(OracleFixture fx, PISARoIHead head) =>
        head.ForwardTrain(fx.Floats("feats"), [ImgMeta.Unscaled(64, 64), ImgMeta.Unscaled(64, 64)], fx.Floats("proposals"),
            fx.Floats("gt_bboxes"), fx.Longs("gt_labels"), null, null);

    [Fact]
    public void Losses_MatchMMDetection()
    {
        using var fx = new OracleFixture("pisa", "pisa_roi_loss.json");
        using var head = Load(fx);
        var losses = Losses(fx, head);
        foreach (var key in new[] { "loss_cls", "acc", "loss_bbox", "loss_carl" })
            Relative.Equal(fx.Scalar(key), losses[key][0].item<float>(), 1e-4, key);
    }

    [Fact]
    public void LossClsGradient_CarriesMMDetectionsSampleWeights()
    {
        // ISR-N and ISR-P rescale their weights so that the loss sums stay, so the weights show in the gradient
        using var fx = new OracleFixture("pisa", "pisa_roi_loss.json");
        using var head = Load(fx);
        Losses(fx, head)["loss_cls"][0].backward();
        var expected = fx.Float("loss_cls_grad_fc_cls_weight");
        var grad = head.BboxHead.named_parameters().First(p => p.name == "fc_cls.weight").parameter.grad!;
        Relative.Equal(expected.data<float>().ToArray(), grad.data<float>().ToArray(), 1e-4, "d loss_cls / d fc_cls.weight");
    }

    [Fact]
    public void WithoutTheScoreHLRSampler_TheGradientDiffers()
    {
        // the same batch with RandomSampler keeping every RoI: only ISR-N's negative weights are gone
        using var fx = new OracleFixture("pisa", "pisa_roi_loss.json");
        using var head = Load(fx, cfg => cfg.Get<ConfigDict>("train_cfg")["sampler"] = new ConfigDict
        {
            ["type"] = "RandomSampler", ["num"] = 512L, ["pos_fraction"] = 0.25, ["neg_pos_ub"] = -1L, ["add_gt_as_proposals"] = true,
        });
        Losses(fx, head)["loss_cls"][0].backward();
        var expected = fx.Float("loss_cls_grad_fc_cls_weight");
        var grad = head.BboxHead.named_parameters().First(p => p.name == "fc_cls.weight").parameter.grad!;
        double rel = ((grad - expected).abs().max() / expected.abs().max()).item<float>();
        Assert.True(rel > 1e-2, $"the gradient moved only {rel:E2} without ISR-N");
    }
}

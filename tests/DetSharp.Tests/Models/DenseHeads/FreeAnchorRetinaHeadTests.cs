using DetSharp.Config;
using DetSharp.Models.DenseHeads;
using DetSharp.Registry;
using DetSharp.Tests.TestSupport;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.DenseHeads;

/// <summary>FreeAnchor's bag losses by hand, and its whole loss against MMDetection's on a fixed batch.</summary>
public sealed class FreeAnchorRetinaHeadTests
{
    private static FreeAnchorRetinaHead Head(OracleFixture fx) => DenseHeadOracleBatch.BuildHead<FreeAnchorRetinaHead>(fx);

    [Fact]
    public void PositiveBag_IsMeanMaxWeightedByOneOverOneMinusP()
    {
        using var fx = new OracleFixture("free_anchor", "free_anchor_loss.json");
        using var head = Head(fx);
        // P = cls · box = 0.5·1, 0.5·0.5 = 0.5, 0.25; weights 1/(1 − P) = 2, 4/3 normalised to 0.6, 0.4;
        // bag probability 0.6·0.5 + 0.4·0.25 = 0.4; loss α·(−log 0.4) with α = 0.5
        var loss = head.PositiveBagLoss(tensor(new[] { 0.5f, 0.5f }).view(1, 2), tensor(new[] { 1f, 0.5f }).view(1, 2));
        Assert.Equal(0.5 * -Math.Log(0.4), loss.item<float>(), 5);
    }

    [Fact]
    public void NegativeBag_IsFocalOnClsTimesNotPositive()
    {
        using var fx = new OracleFixture("free_anchor", "free_anchor_loss.json");
        using var head = Head(fx);
        // p = 0.5 · (1 − 0.5) = 0.25: (1 − α) · p^γ · −log(1 − p) with α 0.5, γ 2; P_box = 1 makes p the clamp 1e-12
        var loss = head.NegativeBagLoss(tensor(new[] { 0.5f, 0.9f }).view(1, 2, 1), tensor(new[] { 0.5f, 1f }).view(1, 2, 1));
        Assert.Equal(0.5 * 0.0625 * -Math.Log(0.75), loss[0, 0, 0].item<float>(), 6);
        Assert.True(loss[0, 1, 0].item<float>() < 1e-20);
    }

    /// <summary>tools/oracle/free_anchor.py: the zoo head (slimmed) and pre_anchor_topk 10 / bbox_thr 0.3, 1e-4 relative.</summary>
    [Theory]
    [InlineData("default", 50, 0.6)]
    [InlineData("top10_thr03", 10, 0.3)]
    public void Loss_MatchesMMDetection(string name, int topk, double thr)
    {
        using var fx = new OracleFixture("free_anchor", "free_anchor_loss.json");
        ComponentRegistration.EnsureRegistered();
        var cfg = Config.Config.FromFile(Path.Combine(fx.Folder, "head_config.py")).Get<ConfigDict>("head");
        cfg["pre_anchor_topk"] = (long)topk;
        cfg["bbox_thr"] = thr;
        using var head = Registries.Models.Build<FreeAnchorRetinaHead>(cfg);
        var (outs, gt, labels, metas) = DenseHeadOracleBatch.Load(fx);
        var losses = head.Loss(outs, gt, labels, metas);
        Relative.Equal(fx.Scalar(name + "_positive_bag_loss"), losses["positive_bag_loss"][0].item<float>(), 1e-4, name + " positive_bag_loss");
        Relative.Equal(fx.Scalar(name + "_negative_bag_loss"), losses["negative_bag_loss"][0].item<float>(), 1e-4, name + " negative_bag_loss");
    }

    [Fact]
    public void ImagesWithoutGt_GiveZeroPositiveLossInTheGraph()
    {
        using var fx = new OracleFixture("free_anchor", "free_anchor_loss.json");
        using var head = Head(fx);
        var (outs, _, _, metas) = DenseHeadOracleBatch.Load(fx);
        foreach (var t in outs.BboxPreds) t.requires_grad_();
        var losses = head.Loss(outs, [zeros(0, 4), zeros(0, 4)], [zeros(0, ScalarType.Int64), zeros(0, ScalarType.Int64)], metas);
        Assert.Equal(0f, losses["positive_bag_loss"][0].item<float>());
        Assert.True(losses["positive_bag_loss"][0].requires_grad);
        Assert.True(losses["negative_bag_loss"][0].item<float>() > 0);
    }
}

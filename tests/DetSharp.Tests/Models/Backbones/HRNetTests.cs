using DetSharp.Config;
using DetSharp.Models.Backbones;
using DetSharp.Models.Common;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Backbones;

/// <summary>HRNet against MMDetection 2.28's outputs for the same weights (<see cref="HRNetFixture"/>), and its config semantics.</summary>
public sealed class HRNetTests
{
    private static ConfigDict SlimCfg(params (string Key, object? Value)[] extra)
    {
        var cfg = new ConfigDict { ["type"] = "HRNet", ["extra"] = HRNetFixture.SlimExtra() };
        foreach (var (k, v) in extra) cfg[k] = v;
        return cfg;
    }

    [Fact]
    public void SlimHRNet_WithMmdetectionsWeights_GivesItsFourBranches()
    {
        using var model = HRNetFixture.Build<HRNet>(SlimCfg());
        Assert.Empty(HRNetFixture.Load(model, "backbone"));
        model.eval();
        using var _ = no_grad();
        var outs = model.forward(HRNetFixture.Input());
        HRNetFixture.AssertMatches("hrnet", outs);
        Assert.Equal([4, 8, 16, 32], model.OutChannels);
    }

    [Fact]
    public void MultiscaleOutputFalse_FusesAndReturnsOnlyTheFinestBranch()
    {
        using var model = HRNetFixture.Build<HRNet>(SlimCfg(("multiscale_output", false)));
        // The last module has no fuse layers into branches 1..3: exactly the keys MMDetection's model did not take.
        Assert.Equal(HRNetFixture.Strings("unused_by_single").Order(StringComparer.Ordinal), HRNetFixture.Load(model, "backbone").Order(StringComparer.Ordinal));
        model.eval();
        using var _ = no_grad();
        HRNetFixture.AssertMatches("hrnet_single", model.forward(HRNetFixture.Input()));
        Assert.Equal([4], model.OutChannels);
    }

    [Fact]
    public void Init_IsKaimingConvsAndUnitNorms_AndZeroInitResidualChangesNothing_AsInMmdetection228()
    {
        manual_seed(0);
        using var model = HRNetFixture.Build<HRNet>(SlimCfg(("zero_init_residual", true)));
        var sd = ModuleTools.StateDict(model).ToDictionary(e => e.Key, e => e.Value);
        // MMDetection 2.28 (checked in the oracle): layer1.0.bn3 and the branches' bn2 stay 1 despite zero_init_residual.
        foreach (var key in sd.Keys.Where(k => k.EndsWith("bn3.weight", StringComparison.Ordinal) || k.EndsWith("bn2.weight", StringComparison.Ordinal)))
            Assert.True(sd[key].eq(1).all().item<bool>(), key);
        // Kaiming normal, fan_out, relu: std sqrt(2 / (64·9)) for the stem's conv2 (36,864 weights).
        double std = sd["conv2.weight"].std().item<float>();
        Assert.InRange(std, 0.97 * Math.Sqrt(2.0 / 576), 1.03 * Math.Sqrt(2.0 / 576));
    }

    [Fact]
    public void NormEval_KeepsBatchNormsInEvalModeWhileTraining()
    {
        using var frozen = HRNetFixture.Build<HRNet>(SlimCfg());
        frozen.train();
        Assert.True(frozen.training);
        var norms = frozen.named_modules().Where(m => NormLayers.IsBatchNorm(m.module)).ToList();
        Assert.NotEmpty(norms);
        Assert.All(norms, m => Assert.False(m.module.training, m.name));

        using var free = HRNetFixture.Build<HRNet>(SlimCfg(("norm_eval", false)));
        free.train();
        Assert.All(free.named_modules().Where(m => NormLayers.IsBatchNorm(m.module)), m => Assert.True(m.module.training, m.name));
    }

    [Fact]
    public void ExtraWithoutAStageOrWithMismatchedLists_IsRefusedNamingTheKey()
    {
        var extra = HRNetFixture.SlimExtra();
        extra.Remove("stage3");
        var e = Assert.Throws<DetSharpException>(() => HRNetFixture.Build<HRNet>(new ConfigDict { ["type"] = "HRNet", ["extra"] = extra }));
        Assert.Contains("extra.stage3", e.Message, StringComparison.Ordinal);

        extra = HRNetFixture.SlimExtra();
        extra.Get<ConfigDict>("stage2")["num_channels"] = new ConfigTuple([4L, 8L, 16L]);
        e = Assert.Throws<DetSharpException>(() => HRNetFixture.Build<HRNet>(new ConfigDict { ["type"] = "HRNet", ["extra"] = extra }));
        Assert.Contains("extra.stage2 has num_branches=2", e.Message, StringComparison.Ordinal);

        extra = HRNetFixture.SlimExtra();
        extra.Get<ConfigDict>("stage4")["block"] = "BASIC2";
        e = Assert.Throws<DetSharpException>(() => HRNetFixture.Build<HRNet>(new ConfigDict { ["type"] = "HRNet", ["extra"] = extra }));
        Assert.Contains("extra.stage4.block is 'BASIC2'", e.Message, StringComparison.Ordinal);
    }
}

using DetSharp.Config;
using DetSharp.Engine.Checkpoints;
using DetSharp.Models.Common;
using DetSharp.Models.Necks;
using DetSharp.Models.Weights;
using DetSharp.Registry;
using DetSharp.Tests.TestSupport;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Necks;

/// <summary>
/// FPG (Feature Pyramid Grids) against MMDetection 2.28.2: <c>tests/fixtures/mmdet-2.28/fpg</c>, made by
/// <c>tools/oracle/fpg.py</c> (see its README) — the zoo's FPG scaled down and a bottom-up + top-down variant, with
/// MMDetection's weights and inputs, every output map in full; plus MMDetection's refusals.
/// </summary>
public sealed class FPGTests
{
    private static readonly string Folder = Path.Combine(RepoPaths.Root, "tests", "fixtures", "mmdet-2.28", "fpg");

    private static ConfigDict Cfg(string name) =>
        Config.Config.FromText(File.ReadAllText(Path.Combine(Folder, "necks.py")), "necks.py").Get<ConfigDict>(name);

    private static Dictionary<string, Tensor> Fixture(string prefix) =>
        PretrainedWeights.SelectPrefix(PretrainedWeights.Read(Path.Combine(Folder, "weights.pth")), prefix, "weights.pth");

    [Theory]
    [InlineData("fpg_zoo")]
    [InlineData("fpg_td")]
    public void FPG_WithMmdetectionsWeights_GivesItsOutputs(string name)
    {
        using var scope = NewDisposeScope();
        ComponentRegistration.EnsureRegistered();
        using var neck = Registries.Models.Build<FPG>(Cfg(name));
        var weights = Fixture(name);
        Assert.Equal(weights.Keys, ModuleTools.StateDict(neck).Select(e => e.Key));
        Assert.True(Checkpoint.LoadStateDict(neck, weights, strict: true).ExactMatch);
        neck.eval();
        using var _ = no_grad();
        var inputs = Fixture("input");
        var outs = neck.forward([.. Enumerable.Range(0, inputs.Count).Select(i => inputs[i.ToString(System.Globalization.CultureInfo.InvariantCulture)])]);
        using var fixture = new OracleFixture("fpg", "outputs.json");
        var expected = fixture.Floats(name);
        Assert.Equal(expected.Length, outs.Length);
        for (int i = 0; i < outs.Length; i++) NeckParityTests.AssertClose($"{name}[{i}]", expected[i], outs[i]);
    }

    [Fact]
    public void FPG_InitialisesEveryConvAsCaffe2Xavier_AsItsInitCfgDoes()
    {
        // FPG's init_cfg (Caffe2Xavier on Conv2d) runs after ConvModule's Kaiming init: uniform with bound sqrt(3 / fan_in).
        ComponentRegistration.EnsureRegistered();
        var cfg = Cfg("fpg_zoo");
        cfg["inter_channels"] = 64L;
        using var neck = Registries.Models.Build<FPG>(cfg);
        var w = neck.state_dict()["fpn_transitions.2.3.same_up.conv.weight"];
        double bound = Math.Sqrt(3.0 / (64 * 9));
        Assert.True(w.abs().max().item<float>() <= bound);
        Assert.InRange(w.std().item<float>(), 0.9 * bound / Math.Sqrt(3), 1.1 * bound / Math.Sqrt(3));
    }

    [Fact]
    public void FPG_RefusesMmdetectionsIdentitySkipDefault_AndAnInplaceActivationFirst()
    {
        ComponentRegistration.EnsureRegistered();
        var noSkip = Cfg("fpg_zoo");
        noSkip.Remove("across_skip_trans");
        Assert.Contains("not one of conv, interpolation_conv, last_conv", Assert.Throws<DetSharpException>(() => Registries.Models.Build<FPG>(noSkip)).Message);
        var inplace = Cfg("fpg_zoo");
        inplace.Get<ConfigDict>("across_lateral_trans")["inplace"] = true;
        Assert.Contains("inplace=False", Assert.Throws<DetSharpException>(() => Registries.Models.Build<FPG>(inplace)).Message);
    }
}

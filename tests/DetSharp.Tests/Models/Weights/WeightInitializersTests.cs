using DetSharp.Config;
using DetSharp.Models.Necks;
using DetSharp.Models.Weights;
using DetSharp.Registry;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Weights;

/// <summary>init_cfg entries other than 'Pretrained' are applied as mmcv's initializers, not dropped.</summary>
public sealed class WeightInitializersTests
{
    private static ConfigDict Dict(params (string Key, object? Value)[] items)
    {
        var d = new ConfigDict();
        foreach (var (k, v) in items) d[k] = v;
        return d;
    }

    [Fact]
    public void NeckInitCfg_IsAppliedByInitWeights_ToTheLayersItNames()
    {
        var cfg = Dict(("type", "FPN"), ("in_channels", new ConfigList([8L, 16L])), ("out_channels", 4L), ("num_outs", 2L),
            ("init_cfg", Dict(("type", "Constant"), ("val", 0.25), ("bias", 0.5), ("layer", "Conv2d"))));
        ComponentRegistration.EnsureRegistered();
        using var fpn = Registries.Models.Build<FPN>(cfg);

        PretrainedInit.InitWeights(fpn);

        foreach (var (name, p) in fpn.named_parameters())
            Assert.True((p == (name.EndsWith("bias", StringComparison.Ordinal) ? 0.5f : 0.25f)).all().item<bool>(), name);
    }

    [Fact]
    public void Override_InitialisesTheNamedChildAsAWhole_BiasProbGivesThePriorBias()
    {
        using var m = nn.Sequential(("a", nn.Conv2d(2, 2, 1)), ("b", nn.Conv2d(2, 3, 1)), ("bn", nn.BatchNorm2d(2)));
        var cfg = Dict(("type", "Constant"), ("val", 1.0), ("layer", new ConfigList(["Conv2d", "_BatchNorm"])),
            ("override", Dict(("name", "b"), ("type", "Normal"), ("std", 0.0), ("mean", 2.0), ("bias_prob", 0.01))));

        WeightInitializers.Apply(m, cfg, "head.init_cfg");

        var sd = m.state_dict();
        Assert.True((sd["a.weight"] == 1f).all().item<bool>());
        Assert.True((sd["a.bias"] == 0f).all().item<bool>());
        Assert.True((sd["bn.weight"] == 1f).all().item<bool>()); // matched through its base class name _BatchNorm
        Assert.True((sd["b.weight"] == 2f).all().item<bool>()); // N(2, 0): the override's own initializer
        Assert.Equal(-Math.Log(99), sd["b.bias"][0].item<float>(), 5);
    }

    [Fact]
    public void UnknownInitializerOrArgument_IsRefusedNamingTheModule()
    {
        using var m = nn.Sequential(("a", nn.Conv2d(2, 2, 1)));
        var e = Assert.Throws<DetSharpException>(() => WeightInitializers.Apply(m, Dict(("type", "Orthogonal"), ("layer", "Conv2d")), "neck.init_cfg"));
        Assert.Contains("neck.init_cfg: init_cfg type 'Orthogonal' is not supported", e.Message);
        e = Assert.Throws<DetSharpException>(() => WeightInitializers.Apply(m, Dict(("type", "Normal"), ("sdt", 0.01), ("layer", "Conv2d")), "neck.init_cfg"));
        Assert.Contains("unexpected argument 'sdt'", e.Message);
    }
}

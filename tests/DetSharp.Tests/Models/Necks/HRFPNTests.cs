using DetSharp.Config;
using DetSharp.Models.Backbones;
using DetSharp.Models.Common;
using DetSharp.Models.Necks;
using DetSharp.Tests.Models.Backbones;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Necks;

/// <summary>HRFPN on the slim HRNet's branches against MMDetection 2.28 (<see cref="HRNetFixture"/>), and its init.</summary>
public sealed class HRFPNTests
{
    private static ConfigDict NeckCfg(long numOuts, string pooling, long stride) => new()
    {
        ["type"] = "HRFPN",
        ["in_channels"] = new ConfigList([4L, 8L, 16L, 32L]),
        ["out_channels"] = 16L,
        ["num_outs"] = numOuts,
        ["pooling_type"] = pooling,
        ["stride"] = stride,
    };

    private static Tensor[] Branches()
    {
        using var backbone = HRNetFixture.Build<HRNet>(new ConfigDict { ["type"] = "HRNet", ["extra"] = HRNetFixture.SlimExtra() });
        HRNetFixture.Load(backbone, "backbone");
        backbone.eval();
        using var _ = no_grad();
        return backbone.forward(HRNetFixture.Input());
    }

    [Theory]
    [InlineData("neck", "hrfpn_avg", 5, "AVG", 1)]
    [InlineData("neck_max", "hrfpn_max", 3, "MAX", 2)]
    public void HRFPN_WithMmdetectionsWeights_GivesItsPyramid(string prefix, string fixture, long numOuts, string pooling, long stride)
    {
        using var neck = HRNetFixture.Build<HRFPN>(NeckCfg(numOuts, pooling, stride));
        Assert.Empty(HRNetFixture.Load(neck, prefix));
        neck.eval();
        using var _ = no_grad();
        HRNetFixture.AssertMatches(fixture, neck.forward(Branches()));
    }

    [Fact]
    public void Init_FpnConvsAreCaffe2Xavier_ReductionConvKeepsConvModulesKaiming()
    {
        manual_seed(0);
        using var neck = HRNetFixture.Build<HRFPN>(NeckCfg(5, "AVG", 1));
        var sd = ModuleTools.StateDict(neck).ToDictionary(e => e.Key, e => e.Value);
        // Caffe2Xavier = kaiming_uniform(a=1, fan_in): U(−b, b) with b = sqrt(3 / fan_in), fan_in = 16·9.
        double bound = Math.Sqrt(3.0 / 144);
        for (int i = 0; i < 5; i++)
        {
            var w = sd[$"fpn_convs.{i}.conv.weight"];
            Assert.InRange(w.abs().max().item<float>(), 0.95 * bound, bound);
            Assert.True(sd[$"fpn_convs.{i}.conv.bias"].eq(0).all().item<bool>());
        }
        // mmcv ConvModule's kaiming_init (normal, fan_out = 16): std sqrt(2 / 16); 960 weights.
        double std = sd["reduction_conv.conv.weight"].std().item<float>();
        Assert.InRange(std, 0.9 * Math.Sqrt(2.0 / 16), 1.1 * Math.Sqrt(2.0 / 16));
        Assert.True(sd["reduction_conv.conv.bias"].eq(0).all().item<bool>());
    }

    [Fact]
    public void UnknownPoolingType_IsRefused()
    {
        var e = Assert.Throws<DetSharpException>(() => HRNetFixture.Build<HRFPN>(NeckCfg(5, "SUM", 1)));
        Assert.Contains("pooling_type is 'SUM'", e.Message, StringComparison.Ordinal);
    }
}

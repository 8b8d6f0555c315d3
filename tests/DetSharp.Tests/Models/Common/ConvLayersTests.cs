using DetSharp.Config;
using DetSharp.Models.Common;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Common;

public sealed class ConvLayersTests
{
    private static ConfigDict Cfg(string type, long deformGroups = 1) => new() { ["type"] = type, ["deform_groups"] = deformGroups };

    [Fact]
    public void DCN_and_DCNv2_have_mmcvs_state_dict_keys_and_shapes()
    {
        using var dcn = ConvLayers.Build(Cfg("DCN"), 8, 16, 3, padding: 1, bias: false);
        Assert.Equal(["weight [16, 8, 3, 3]", "conv_offset.weight [18, 8, 3, 3]", "conv_offset.bias [18]"], Keys(dcn));
        using var dcnv2 = ConvLayers.Build(Cfg("DCNv2", deformGroups: 2), 8, 16, 3, stride: 2, padding: 1);
        Assert.Equal(["weight [16, 8, 3, 3]", "bias [16]", "conv_offset.weight [54, 8, 3, 3]", "conv_offset.bias [54]"], Keys(dcnv2));
    }

    [Fact]
    public void Freshly_built_deformable_convs_are_the_plain_convolution_of_their_weight()
    {
        // conv_offset starts at zero: offsets 0 (and DCNv2's masks sigmoid(0) = 0.5).
        using var scope = NewDisposeScope();
        var x = randn(2, 4, 9, 7);
        foreach (var (type, maskScale) in new[] { ("DCN", 1.0), ("DCNv2", 0.5) })
        {
            var layer = ConvLayers.Build(Cfg(type), 4, 6, 3, stride: 2, padding: 1, dilation: 1, bias: false);
            var w = layer.named_parameters().Single(p => p.name == "weight").parameter;
            var expected = nn.functional.conv2d(x, w, strides: [2, 2], padding: [1, 1]) * maskScale;
            Assert.True(layer.forward(x).allclose(expected, 1e-4, 1e-5), type);
        }
    }

    [Fact]
    public void ConvWS_standardises_each_output_channels_weight()
    {
        using var scope = NewDisposeScope();
        var layer = ConvLayers.Build(new ConfigDict { ["type"] = "ConvWS" }, 3, 2, 3, padding: 1);
        var w = layer.named_parameters().Single(p => p.name == "weight").parameter;
        var b = layer.named_parameters().Single(p => p.name == "bias").parameter;
        var flat = w.view(2, -1);
        var standardised = (w - flat.mean([1], keepdim: true).view(2, 1, 1, 1)) / (flat.std(1, keepdim: true).view(2, 1, 1, 1) + 1e-5);
        var x = randn(1, 3, 5, 5);
        Assert.True(layer.forward(x).allclose(nn.functional.conv2d(x, standardised, b, padding: [1, 1]), 1e-4, 1e-5));
    }

    [Fact]
    public void An_unknown_conv_type_names_the_supported_ones()
    {
        var e = Assert.Throws<DetSharpException>(() => ConvLayers.Build(new ConfigDict { ["type"] = "SAC" }, 3, 2, 3));
        Assert.Contains("'SAC' is not supported", e.Message);
        Assert.Contains("DCNv2", e.Message);
        Assert.Contains("ConvAWS", e.Message);
    }

    [Fact]
    public void ConvAWS_has_mmcvs_keys_and_starts_as_the_standardised_conv()
    {
        using var conv = ConvLayers.Build(new ConfigDict { ["type"] = "ConvAWS" }, 3, 2, 3, padding: 1);
        var sd = conv.state_dict();
        Assert.Equal(new[] { "weight", "bias", "weight_gamma", "weight_beta" }, sd.Keys);
        Assert.Equal(new long[] { 2, 1, 1, 1 }, sd["weight_gamma"].shape);
        // gamma 1, beta 0: the weight standardised with sqrt(var + 1e-5), by hand.
        var w = sd["weight"].view(2, -1);
        var standardised = ((w - w.mean([1], keepdim: true)) / (w.var(1, keepdim: true) + 1e-5).sqrt()).view(2, 3, 3, 3);
        var x = randn(1, 3, 5, 5);
        var expected = nn.functional.conv2d(x, standardised, sd["bias"], padding: [1, 1]);
        Assert.True(conv.forward(x).allclose(expected, rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void A_ConvModule_with_a_DCNv2_conv_keeps_the_conv_key()
    {
        using var m = new ConvModule(4, 4, 3, padding: 1, normCfg: new ConfigDict { ["type"] = "GN", ["num_groups"] = 2 }, convCfg: Cfg("DCNv2"));
        Assert.Equal(["conv.weight [4, 4, 3, 3]", "conv.conv_offset.weight [27, 4, 3, 3]", "conv.conv_offset.bias [27]", "gn.weight [4]", "gn.bias [4]"], Keys(m));
    }

    private static List<string> Keys(TorchSharp.torch.nn.Module m) =>
        m.state_dict().Select(kv => $"{kv.Key} [{string.Join(", ", kv.Value.shape)}]").ToList();
}

using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Models.RoIHeads;
using DetSharp.Tests.TestSupport;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Common;

/// <summary>
/// NormedConv2d against MMDetection 2.28.2 (<c>tests/fixtures/mmdet-2.28/normed_mask/normed_mask.json</c>, made by
/// <c>tools/oracle/normed_mask.py</c>) within 1e-5 relative, built as <c>build_conv_layer</c> builds it from a config;
/// then as FCNMaskHead's <c>predictor_cfg</c>, as the seesaw_loss normed_mask configs set it up.
/// </summary>
public sealed class NormedConv2dTests
{
    [Theory]
    [InlineData("mask_predictor", 8, 3, 1, 0, "{\"tempearture\": 20}")]
    [InlineData("kernel_norm", 6, 4, 3, 1, "{\"tempearture\": 10, \"power\": 2.0, \"eps\": 1e-5, \"norm_over_kernel\": true}")]
    [InlineData("channel_norm_3x3", 6, 4, 3, 1, "{\"tempearture\": 20}")]
    public void Output_equals_mmdetections(string name, long inChannels, long outChannels, long kernel, long padding, string extra)
    {
        using var fixture = new OracleFixture("normed_mask", "normed_mask.json");
        using var scope = NewDisposeScope();
        var cfg = new ConfigDict { ["type"] = "NormedConv2d" };
        foreach (var (key, value) in System.Text.Json.JsonDocument.Parse(extra).RootElement.EnumerateObject().Select(p => (p.Name, p.Value)))
        {
            cfg.Add(key, value.ValueKind switch
            {
                System.Text.Json.JsonValueKind.True => true,
                System.Text.Json.JsonValueKind.False => false,
                _ => (object)value.GetDouble(),
            });
        }
        using var layer = ConvLayers.Build(cfg, inChannels, outChannels, kernel, padding: padding);
        Assert.IsType<NormedConv2d>(layer);
        using (no_grad())
        {
            layer.get_parameter("weight")!.copy_(fixture.Float($"{name}.weight"));
            layer.get_parameter("bias")!.copy_(fixture.Float($"{name}.bias"));
        }
        var expected = fixture.Float($"{name}.y");
        var actual = layer.forward(fixture.Float($"{name}.x"));
        Assert.True(actual.allclose(expected, rtol: 1e-5, atol: 1e-6), $"{name}: max |diff| {(actual - expected).abs().max().item<float>()}");
    }

    [Fact]
    public void An_unknown_key_is_refused_with_its_path()
    {
        var cfg = new ConfigDict { ["type"] = "NormedConv2d", ["temperature"] = 20.0 };
        var error = Assert.Throws<DetSharpException>(() => ConvLayers.Build(cfg, 8, 3, 1));
        Assert.Contains("temperature", error.Message);
    }

    [Fact]
    public void FCNMaskHead_predictor_cfg_builds_a_normed_conv_logits_with_mmdetections_keys()
    {
        var args = new FCNMaskHeadArguments(NumConvs: 1, InChannels: 8, ConvOutChannels: 8, NumClasses: 3,
            PredictorCfg: new ConfigDict { ["type"] = "NormedConv2d", ["tempearture"] = 20L });
        using var head = new FCNMaskHead(args);
        var logits = head.named_modules().Single(m => m.name == "conv_logits").module;
        Assert.IsType<NormedConv2d>(logits);
        Assert.Equal(20, ((NormedConv2d)logits).Temperature);
        Assert.Contains(head.named_parameters(), p => p.name == "conv_logits.weight" && p.parameter.shape.SequenceEqual(new long[] { 3, 8, 1, 1 }));
        using var scope = NewDisposeScope();
        var y = head.Forward(randn(2, 8, 7, 7));
        Assert.Equal(new long[] { 2, 3, 14, 14 }, y.shape);
        // Cosine logits scaled by the temperature (bias 0 after init): bounded by it.
        Assert.True(y.abs().max().item<float>() <= 20 + 1e-3);
    }
}

using DetSharp.Config;
using DetSharp.Models.Backbones;
using DetSharp.Models.Common;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Backbones;

/// <summary>
/// ResNet's <c>plugins</c> as MMDetection builds them: names (abbreviation + postfix) and places, the refusals
/// MMDetection makes (BasicBlock, unknown position, wrong <c>stages</c> length, two plugins of one name), and the init:
/// the backbone's Kaiming reaches a plugin's convs only when the backbone is randomly initialised.
/// The numbers are checked against MMDetection in <c>Parity/PluginParityTests</c>.
/// </summary>
public sealed class ResNetPluginsTests
{
    private static ConfigDict Plugin(string type, string position, ConfigList? stages = null, params (string Key, object? Value)[] args)
    {
        var cfg = new ConfigDict { ["type"] = type };
        foreach (var (k, v) in args) cfg[k] = v;
        var entry = new ConfigDict { ["cfg"] = cfg, ["position"] = position };
        if (stages is not null) entry["stages"] = stages;
        return entry;
    }

    private static ConfigList Stages(params bool[] flags) => new(flags.Cast<object?>());

    private static ResNet Build(int depth, ConfigList plugins, object? initCfg = null) =>
        Builders.Model<ResNet>(new ConfigDict
        {
            ["type"] = "ResNet", ["depth"] = (long)depth, ["base_channels"] = 8L, ["plugins"] = plugins, ["init_cfg"] = initCfg,
        });

    [Fact]
    public void Plugins_are_named_by_abbreviation_and_postfix_after_the_block_layers()
    {
        using var model = Build(50, [
            Plugin("ContextBlock", "after_conv3", Stages(false, true, false, false), ("ratio", 0.25), ("postfix", "1")),
            Plugin("ContextBlock", "after_conv3", Stages(false, true, false, false), ("ratio", 0.25), ("postfix", 2L)),
            Plugin("NonLocal2d", "after_conv1", Stages(false, true, false, false)),
        ]);
        var keys = ModuleTools.StateDict(model).Select(e => e.Key).Where(k => k.StartsWith("layer2.0.", StringComparison.Ordinal)).ToList();
        var children = keys.Select(k => k.Split('.')[2]).Distinct().ToList();
        Assert.Equal(["conv1", "bn1", "conv2", "bn2", "conv3", "bn3", "downsample", "nonlocal_block", "context_block1", "context_block2"], children);
        // after_conv1 sees the bottleneck's planes (16 in stage 2), after_conv3 planes × 4.
        Assert.Contains("layer2.0.nonlocal_block.g.conv.weight", keys);
        Assert.Equal([1, 64, 1, 1], ModuleTools.StateDict(model).Single(e => e.Key == "layer2.0.context_block1.conv_mask.weight").Value.shape);
        Assert.Equal([8, 16, 1, 1], ModuleTools.StateDict(model).Single(e => e.Key == "layer2.0.nonlocal_block.g.conv.weight").Value.shape);
        Assert.DoesNotContain(ModuleTools.StateDict(model), e => e.Key.StartsWith("layer1.", StringComparison.Ordinal) && e.Key.Contains("block", StringComparison.Ordinal));

        using var x = randn(1, 3, 64, 64);
        using var _ = no_grad();
        Assert.Equal([1, 256, 2, 2], model.forward(x)[^1].shape);
    }

    [Fact]
    public void Refusals_name_the_problem()
    {
        var basic = Assert.Throws<DetSharpException>(() => Build(18, [Plugin("ContextBlock", "after_conv3", args: ("ratio", 0.25))]));
        Assert.Contains("plugins", basic.Message, StringComparison.Ordinal);
        var position = Assert.Throws<DetSharpException>(() => Build(50, [Plugin("ContextBlock", "after_conv4", args: ("ratio", 0.25))]));
        Assert.Contains("after_conv4", position.Message, StringComparison.Ordinal);
        var stages = Assert.Throws<DetSharpException>(() => Build(50, [Plugin("ContextBlock", "after_conv3", Stages(true, true), ("ratio", 0.25))]));
        Assert.Contains("num_stages=4", stages.Message, StringComparison.Ordinal);
        var twice = Assert.Throws<DetSharpException>(() => Build(50, [
            Plugin("ContextBlock", "after_conv3", args: ("ratio", 0.25)), Plugin("ContextBlock", "after_conv2", args: ("ratio", 0.25))]));
        Assert.Contains("postfix", twice.Message, StringComparison.Ordinal);
        var unknown = Assert.Throws<DetSharpException>(() => Build(50, [Plugin("ContextBlok", "after_conv3", args: ("ratio", 0.25))]));
        Assert.Contains("PLUGIN_LAYERS", unknown.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Plugin_layers_refuse_invalid_arguments()
    {
        Assert.Throws<DetSharpException>(() => new ContextBlock(16, 0.25, poolingType: "max"));
        Assert.Throws<DetSharpException>(() => new ContextBlock(16, 0.25, fusionTypes: ["channel_sub"]));
        Assert.Throws<DetSharpException>(() => new GeneralizedAttention(16, numHeads: 4, attentionType: "0000"));
        Assert.Throws<DetSharpException>(() => new GeneralizedAttention(64, spatialRange: 2, numHeads: 4));
        Assert.Throws<DetSharpException>(() => new NonLocal2d(16, mode: "cosine"));
    }

    [Fact]
    public void The_backbones_kaiming_init_reaches_plugins_only_without_pretrained_weights()
    {
        ConfigList plugins = [Plugin("ContextBlock", "after_conv3", Stages(false, true, true, true), ("ratio", 0.25))];
        double LastConv(ResNet m) =>
            ModuleTools.StateDict(m).Single(e => e.Key == "layer2.0.context_block.channel_add_conv.3.weight").Value.abs().sum().item<float>();

        // MMDetection: a randomly initialised ResNet Kaiming-initialises every Conv2d under it, plugins included.
        using var random = Build(50, plugins);
        Assert.True(LastConv(random) > 0);
        // With a 'Pretrained' init_cfg (the zoo's case) the plugins keep mmcv's own init: the last conv zero.
        using var pretrained = Build(50, plugins, new ConfigDict { ["type"] = "Pretrained", ["checkpoint"] = "torchvision://resnet50" });
        Assert.Equal(0, LastConv(pretrained));
        using var block = new ContextBlock(16, 0.25);
        using var x = randn(2, 16, 5, 5);
        using var _ = no_grad();
        using var y = block.forward(x);
        Assert.Equal(0, (y - x).abs().max().item<float>());
    }
}

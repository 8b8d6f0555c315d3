using DetSharp.Config;
using DetSharp.Models.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Backbones;

/// <summary>Where in a bottleneck a plugin goes: after conv1 (+ norm, ReLU), after conv2 (+ norm, ReLU) or after conv3 (+ norm).</summary>
public enum PluginPosition
{
    AfterConv1,
    AfterConv2,
    AfterConv3,
}

/// <summary>
/// One plugin of a ResNet stage (MMDetection's <c>plugins=[dict(cfg=dict(type=...), stages=(...), position=...)]</c>
/// after <c>make_stage_plugins</c>): the plugin layer's config and its position in each bottleneck of the stage.
/// </summary>
public sealed record BlockPlugin(ConfigDict Cfg, PluginPosition Position)
{
    /// <summary>
    /// MMDetection's <c>ResNet.make_stage_plugins</c>: the entries of <paramref name="plugins"/> whose <c>stages</c> (one
    /// flag per stage; absent: every stage) include <paramref name="stage"/>, in config order.
    /// </summary>
    public static IReadOnlyList<BlockPlugin> ForStage(object? plugins, int stage, int numStages, string family)
    {
        if (plugins is null) return [];
        if (plugins is not IList<object?> list)
            throw new DetSharpException($"{family}: plugins must be a list of dict(cfg=..., stages=..., position=...), got {ConfigValue.Describe(plugins)}.");
        var selected = new List<BlockPlugin>();
        foreach (var item in list)
        {
            if (item is not ConfigDict entry)
                throw new DetSharpException($"{family}: each entry of plugins must be a dict(cfg=..., stages=..., position=...), got {ConfigValue.Describe(item)}.");
            string where = $"{entry.SourceFile ?? "config"}: '{entry.Path}'";
            foreach (var key in entry.Keys)
                if (key is not ("cfg" or "stages" or "position"))
                    throw new DetSharpException($"{where}: unexpected key '{key}' in a plugin entry (cfg, stages, position).");
            if (!entry.TryGetValue("cfg", out var cfg) || cfg is not ConfigDict layer)
                throw new DetSharpException($"{where}: a plugin entry needs cfg=dict(type=...).");
            var position = entry.Get<string?>("position", null) switch
            {
                "after_conv1" => PluginPosition.AfterConv1,
                "after_conv2" => PluginPosition.AfterConv2,
                "after_conv3" => PluginPosition.AfterConv3,
                var p => throw new DetSharpException($"{where}: position must be 'after_conv1', 'after_conv2' or 'after_conv3', got '{p}'."),
            };
            var stages = entry.Get<bool[]?>("stages", null);
            if (stages is not null && stages.Length != numStages)
                throw new DetSharpException($"{where}: stages has {stages.Length} flags for num_stages={numStages}.");
            if (stages is null || stages[stage]) selected.Add(new BlockPlugin(layer, position));
        }
        return selected;
    }

    /// <summary>
    /// MMDetection's <c>Bottleneck.make_block_plugins</c>: builds the plugins at <paramref name="position"/> with
    /// <paramref name="inChannels"/> and registers them on <paramref name="block"/> under their names (abbreviation +
    /// postfix), refusing a name the block already has.
    /// </summary>
    public static nn.Module<Tensor, Tensor>[] Build(nn.Module block, IReadOnlyList<BlockPlugin>? plugins, PluginPosition position, long inChannels,
        Action<string, nn.Module> register)
    {
        if (plugins is null) return [];
        var built = new List<nn.Module<Tensor, Tensor>>();
        foreach (var plugin in plugins.Where(p => p.Position == position))
        {
            var (name, layer) = PluginLayers.Build(plugin.Cfg, inChannels);
            if (block.named_children().Any(c => c.name == name))
                throw new DetSharpException($"{plugin.Cfg.SourceFile ?? "config"}: '{plugin.Cfg.Path}': a second plugin named '{name}' in one block; give each a distinct 'postfix'.");
            register(name, layer);
            built.Add(layer);
        }
        return [.. built];
    }

    /// <summary>MMDetection's <c>forward_plugin</c>: the plugins one after the other.</summary>
    public static Tensor Forward(nn.Module<Tensor, Tensor>[] plugins, Tensor x)
    {
        foreach (var p in plugins) x = p.forward(x);
        return x;
    }
}

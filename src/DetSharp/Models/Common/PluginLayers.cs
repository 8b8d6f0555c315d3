using DetSharp.Config;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Common;

/// <summary>
/// A layer of mmcv's PLUGIN_LAYERS registry: its <see cref="Abbreviation"/> (mmcv's <c>_abbr_</c>) names it where it is
/// inserted, so that the state-dict keys are MMDetection's (<c>layer2.0.context_block.conv_mask.weight</c>).
/// </summary>
public interface IPluginLayer
{
    /// <summary>mmcv's <c>_abbr_</c> of the class, e.g. <c>context_block</c>.</summary>
    string Abbreviation { get; }
}

/// <summary>mmcv's <c>build_plugin_layer(cfg, postfix, **kwargs)</c>.</summary>
public static class PluginLayers
{
    /// <summary>
    /// Builds <paramref name="cfg"/> from PLUGIN_LAYERS and names it abbreviation + postfix (the cfg's <c>postfix</c> key,
    /// which tells apart two plugins of one type at one place). A host block (ResNet's <c>plugins</c>) passes
    /// <paramref name="inChannels"/> and the cfg must not set it; without a host (GenericRoIExtractor's <c>pre_cfg</c>) the cfg
    /// carries its own arguments. mmcv's <c>ConvModule</c> is a plugin too; its constructor here takes resolved arguments,
    /// so it is built through <see cref="ConvModule.FromConfig"/>.
    /// </summary>
    public static (string Name, nn.Module<Tensor, Tensor> Layer) Build(ConfigDict cfg, long? inChannels = null)
    {
        var args = cfg.Clone();
        string postfix = args.TryGetValue("postfix", out var p) ? Convert.ToString(p, System.Globalization.CultureInfo.InvariantCulture) ?? "" : "";
        args.Remove("postfix");
        if (inChannels is { } host)
        {
            if (args.ContainsKey("in_channels"))
                throw new DetSharpException($"{cfg.SourceFile ?? "config"}: '{cfg.Path}': a plugin layer takes in_channels from the block it is inserted in; remove 'in_channels'.");
            args["in_channels"] = host;
        }
        ComponentRegistration.EnsureRegistered();
        var layer = args.Get("type", "") == "ConvModule" ? ConvModule.FromConfig(args) : Registries.PluginLayers.Build<nn.Module<Tensor, Tensor>>(args);
        string abbreviation = layer is IPluginLayer plugin ? plugin.Abbreviation
            : throw new DetSharpException($"'{cfg.Path}': {layer.GetType().Name} does not name itself as a plugin layer.");
        return (abbreviation + postfix, layer);
    }
}

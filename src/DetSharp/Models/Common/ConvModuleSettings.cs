using DetSharp.Config;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Common;

/// <summary>
/// The <c>conv_cfg</c>, <c>norm_cfg</c> and <c>act_cfg</c> that a module hands to every ConvModule it builds (as
/// MMDetection's CSP-Darknet, CSPLayer, YOLOXPAFPN and YOLOXHead do), and its choice between <see cref="ConvModule"/>
/// and <see cref="DepthwiseSeparableConvModule"/> (<c>conv = DepthwiseSeparableConvModule if use_depthwise else ConvModule</c>).
/// </summary>
public sealed record ConvModuleSettings(ConfigDict? ConvCfg, ConfigDict? NormCfg, ConfigDict? ActCfg, string Owner)
{
    /// <summary>
    /// YOLOX's defaults where a config does not set a key: BN with momentum 0.03 and eps 0.001 (YOLOX's own BN
    /// settings), Swish; an explicit None is kept.
    /// </summary>
    public static ConvModuleSettings Yolox(ConfigDict? convCfg, ConfigOptional<ConfigDict> normCfg, ConfigOptional<ConfigDict> actCfg, string owner) =>
        new(convCfg, normCfg.Or(new ConfigDict { ["type"] = "BN", ["momentum"] = 0.03, ["eps"] = 0.001 }),
            actCfg.Or(new ConfigDict { ["type"] = "Swish" }), owner);

    /// <summary>A ConvModule with these settings.</summary>
    public ConvModule Conv(long inChannels, long outChannels, long kernelSize, long stride = 1, long padding = 0, bool? bias = null) =>
        new(inChannels, outChannels, kernelSize, ActCfg, Owner, stride, padding, NormCfg, convCfg: ConvCfg, bias: bias);

    /// <summary>A DepthwiseSeparableConvModule when <paramref name="depthwise"/>, else a ConvModule, with these settings.</summary>
    public nn.Module<Tensor, Tensor> Conv(bool depthwise, long inChannels, long outChannels, long kernelSize, long stride = 1, long padding = 0,
        bool? bias = null) =>
        depthwise
            ? new DepthwiseSeparableConvModule(inChannels, outChannels, kernelSize, ActCfg, Owner, stride, padding, NormCfg, ConvCfg, bias)
            : Conv(inChannels, outChannels, kernelSize, stride, padding, bias);
}

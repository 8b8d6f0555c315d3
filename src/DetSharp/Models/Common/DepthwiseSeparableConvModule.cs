using DetSharp.Config;
using DetSharp.Models.Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Common;

/// <summary>
/// mmcv's <c>DepthwiseSeparableConvModule</c>: <c>depthwise_conv</c>, a k×k ConvModule with one group per input channel
/// (stride, padding, dilation), then <c>pointwise_conv</c>, a 1×1 ConvModule to the output channels; both with the
/// module's norm and activation (mmcv's 'default' for <c>dw_*</c> / <c>pw_*</c>).
/// </summary>
public sealed class DepthwiseSeparableConvModule : nn.Module<Tensor, Tensor>, IOnnxExportable
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    public DepthwiseSeparableConvModule(long inChannels, long outChannels, long kernelSize, long stride = 1, long padding = 0, long dilation = 1,
        ConfigDict? normCfg = null, bool withRelu = true, bool relu6 = false)
        : base(nameof(DepthwiseSeparableConvModule))
    {
        Depthwise = new ConvModule(inChannels, inChannels, kernelSize, stride, padding, dilation, normCfg, withRelu, groups: inChannels, relu6: relu6);
        Pointwise = new ConvModule(inChannels, outChannels, 1, normCfg: normCfg, withRelu: withRelu, relu6: relu6);
        register_module("depthwise_conv", Depthwise);
        register_module("pointwise_conv", Pointwise);
    }

    /// <summary>With mmcv's <c>act_cfg</c> (as <see cref="ConvModule.ActivationOf"/>) and <c>conv_cfg</c> for both convs.</summary>
    public DepthwiseSeparableConvModule(long inChannels, long outChannels, long kernelSize, ConfigDict? actCfg, string owner, long stride = 1,
        long padding = 0, ConfigDict? normCfg = null, ConfigDict? convCfg = null, bool? bias = null)
        : base(nameof(DepthwiseSeparableConvModule))
    {
        Depthwise = new ConvModule(inChannels, inChannels, kernelSize, actCfg, owner, stride, padding, normCfg, groups: inChannels, convCfg: convCfg, bias: bias);
        Pointwise = new ConvModule(inChannels, outChannels, 1, actCfg, owner, normCfg: normCfg, convCfg: convCfg, bias: bias);
        register_module("depthwise_conv", Depthwise);
        register_module("pointwise_conv", Pointwise);
    }

    public ConvModule Depthwise { get; }

    public ConvModule Pointwise { get; }

    public override Tensor forward(Tensor x) => Pointwise.forward(Depthwise.forward(x));

    /// <summary>The two ConvModules' nodes: the depthwise one is a <c>Conv</c> with <c>group</c> = its channels.</summary>
    public IReadOnlyList<string> ExportOnnx(OnnxExportContext ctx, IReadOnlyList<string> inputs) => [ctx.Forward(Pointwise, ctx.Forward(Depthwise, inputs[0]))];
}

using DetSharp.Config;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Common;

/// <summary>
/// mmcv's <c>ConvModule</c>: <c>conv</c> (built from <c>conv_cfg</c> by <see cref="ConvLayers"/>; bias unless a norm
/// follows), an optional norm layer named by its type (<c>bn</c>, <c>gn</c>) and an optional ReLU — the submodule
/// names give MMDetection's keys (<c>lateral_convs.0.conv.weight</c>).
/// </summary>
public sealed class ConvModule : nn.Module<Tensor, Tensor>
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly nn.Module<Tensor, Tensor> _conv;
    private readonly nn.Module<Tensor, Tensor>? _norm;
    private readonly bool _relu;

    /// <param name="bias">null = mmcv's 'auto': bias only without a norm layer.</param>
    /// <param name="withRelu">act_cfg=dict(type='ReLU') when true, act_cfg=None when false.</param>
    public ConvModule(long inChannels, long outChannels, long kernelSize, long stride = 1, long padding = 0, long dilation = 1,
        ConfigDict? normCfg = null, bool withRelu = true, bool? bias = null, ConfigDict? convCfg = null)
        : base(nameof(ConvModule))
    {
        bool useBias = bias ?? normCfg is null;
        _conv = ConvLayers.Build(convCfg, inChannels, outChannels, kernelSize, stride, padding, dilation, bias: useBias);
        register_module("conv", _conv);
        if (normCfg is not null)
        {
            var (name, layer) = NormLayers.Build(normCfg, outChannels);
            _norm = (nn.Module<Tensor, Tensor>)layer;
            register_module(name, layer);
        }
        _relu = withRelu;
        // mmcv ConvModule.init_weights: kaiming (fan_out, relu) for the conv unless it initialises itself (the
        // deformable ones), constant 1/0 for the norm.
        if (ConvLayers.IsPlainConv(_conv)) ModuleTools.KaimingInit(_conv);
        if (_norm is not null) ModuleTools.ConstantInit(_norm, 1);
    }

    /// <summary>The convolution (<c>conv</c>).</summary>
    public nn.Module<Tensor, Tensor> Conv => _conv;

    public override Tensor forward(Tensor x)
    {
        var y = _conv.forward(x);
        if (_norm is not null) y = _norm.forward(y);
        if (_relu) y = nn.functional.relu(y);
        return y;
    }
}

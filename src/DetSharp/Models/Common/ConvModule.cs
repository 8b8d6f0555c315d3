using DetSharp.Config;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Common;

/// <summary>
/// mmcv's <c>ConvModule</c>: <c>conv</c> (built from <c>conv_cfg</c> by <see cref="ConvLayers"/>; bias unless a norm
/// follows; <c>groups</c> for depthwise convs), an optional norm layer named by its type (<c>bn</c>, <c>gn</c>) and an
/// optional ReLU or ReLU6 — the submodule names give MMDetection's keys (<c>lateral_convs.0.conv.weight</c>).
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
    private readonly bool _relu6;
    private readonly bool _activateFirst;

    /// <param name="bias">null = mmcv's 'auto': bias only without a norm layer.</param>
    /// <param name="withRelu">act_cfg=dict(type='ReLU') when true, act_cfg=None when false.</param>
    /// <param name="relu6">with <paramref name="withRelu"/>: act_cfg=dict(type='ReLU6') instead of ReLU.</param>
    /// <param name="activateFirst">mmcv's <c>order=('act', 'conv', 'norm')</c> (NAS-FPN's merge cells) instead of conv, norm, act.</param>
    public ConvModule(long inChannels, long outChannels, long kernelSize, long stride = 1, long padding = 0, long dilation = 1,
        ConfigDict? normCfg = null, bool withRelu = true, bool? bias = null, long groups = 1, bool relu6 = false, ConfigDict? convCfg = null,
        bool activateFirst = false)
        : base(nameof(ConvModule))
    {
        bool useBias = bias ?? normCfg is null;
        _conv = ConvLayers.Build(convCfg, inChannels, outChannels, kernelSize, stride, padding, dilation, groups, useBias);
        register_module("conv", _conv);
        if (normCfg is not null)
        {
            var (name, layer) = NormLayers.Build(normCfg, outChannels);
            _norm = (nn.Module<Tensor, Tensor>)layer;
            register_module(name, layer);
        }
        _relu = withRelu;
        _relu6 = relu6;
        _activateFirst = activateFirst;
        // mmcv ConvModule.init_weights: kaiming (fan_out, relu) for the conv unless it initialises itself (the
        // deformable ones), constant 1/0 for the norm.
        if (ConvLayers.IsPlainConv(_conv)) ModuleTools.KaimingInit(_conv);
        if (_norm is not null) ModuleTools.ConstantInit(_norm, 1);
    }

    /// <summary>
    /// An <c>act_cfg</c> as (withRelu, relu6): None → no activation, ReLU, ReLU6; other types are refused naming
    /// <paramref name="owner"/>.
    /// </summary>
    public static (bool WithRelu, bool Relu6) Activation(ConfigDict? actCfg, string owner) => actCfg?.Get<string>("type") switch
    {
        null => (false, false),
        "ReLU" => (true, false),
        "ReLU6" => (true, true),
        var t => throw new DetSharpException($"{owner}: act_cfg type '{t}' is not supported (ReLU, ReLU6 or None)."),
    };

    /// <summary>The convolution (<c>conv</c>).</summary>
    public nn.Module<Tensor, Tensor> Conv => _conv;

    /// <summary>The norm layer, if any (<c>bn</c>, <c>gn</c>).</summary>
    public nn.Module<Tensor, Tensor>? Norm => _norm;

    public override Tensor forward(Tensor x)
    {
        if (_activateFirst) x = Activate(x);
        var y = _conv.forward(x);
        if (_norm is not null) y = _norm.forward(y);
        return _activateFirst ? y : Activate(y);
    }

    private Tensor Activate(Tensor x)
    {
        if (!_relu) return x;
        return _relu6 ? nn.functional.relu6(x) : nn.functional.relu(x);
    }
}

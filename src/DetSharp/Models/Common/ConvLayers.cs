using DetSharp.Config;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Common;

/// <summary>
/// mmcv's <c>build_conv_layer(conv_cfg, ...)</c>: <c>None</c>, <c>Conv</c> or <c>Conv2d</c> a plain convolution,
/// <c>DCN</c> a <see cref="DeformConv2dPack"/>, <c>DCNv2</c> a modulated one (<c>deform_groups</c> from the dict,
/// also under its old name <c>deformable_groups</c>), <c>ConvWS</c> a <see cref="ConvWS2d"/>.
/// </summary>
public static class ConvLayers
{
    public static nn.Module<Tensor, Tensor> Build(ConfigDict? cfg, long inChannels, long outChannels, long kernelSize, long stride = 1,
        long padding = 0, long dilation = 1, long groups = 1, bool bias = true)
    {
        string type = cfg?.Get("type", "Conv2d") ?? "Conv2d";
        switch (type)
        {
            case "Conv":
            case "Conv2d":
                return nn.Conv2d(inChannels, outChannels, kernelSize, stride: stride, padding: padding, dilation: dilation, groups: groups, bias: bias);
            case "DCN":
            case "DCNv2":
                long deformGroups = cfg!.Has("deform_groups") ? cfg.Get<long>("deform_groups") : cfg.Get("deformable_groups", 1L);
                return new DeformConv2dPack(type == "DCNv2", inChannels, outChannels, kernelSize, stride, padding, dilation, groups, deformGroups, bias);
            case "ConvWS":
                return new ConvWS2d(inChannels, outChannels, kernelSize, stride, padding, dilation, groups, bias, cfg!.Get("eps", 1e-5));
            default:
                throw new DetSharpException($"conv_cfg: type '{type}' is not supported (use 'Conv2d', 'DCN', 'DCNv2' or 'ConvWS').");
        }
    }

    /// <summary>
    /// Whether mmcv's <c>layer='Conv2d'</c> initialisers touch <paramref name="layer"/>: torch's Conv2d and its subclass
    /// ConvWS2d, not the deformable modules (their own init stands).
    /// </summary>
    public static bool IsPlainConv(nn.Module layer) => layer is TorchSharp.Modules.Conv2d or ConvWS2d;
}

/// <summary>
/// mmcv's <c>ConvWS2d</c> (Weight Standardization, Qiao et al. 2019): a convolution whose weight is standardised per
/// output channel before use, (w − mean) / (std + eps), std unbiased as torch's default. Keys <c>weight</c>, <c>bias</c>.
/// </summary>
public sealed class ConvWS2d : nn.Module<Tensor, Tensor>
{
    /// <summary>Parameters are registered explicitly under mmcv's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly TorchSharp.Modules.Parameter _weight;
    private readonly TorchSharp.Modules.Parameter? _bias;
    private readonly double _eps;
    private readonly long _stride, _padding, _dilation, _groups;

    public ConvWS2d(long inChannels, long outChannels, long kernelSize, long stride, long padding, long dilation, long groups, bool bias, double eps)
        : base(nameof(ConvWS2d))
    {
        (_eps, _stride, _padding, _dilation, _groups) = (eps, stride, padding, dilation, groups);
        // Initialised as torch's Conv2d; ConvModule then applies mmcv's Kaiming init as it does to any convolution.
        using var template = nn.Conv2d(inChannels, outChannels, kernelSize, groups: groups, bias: bias);
        _weight = new TorchSharp.Modules.Parameter(template.weight!.detach().clone());
        register_parameter("weight", _weight);
        if (bias)
        {
            _bias = new TorchSharp.Modules.Parameter(template.bias!.detach().clone());
            register_parameter("bias", _bias);
        }
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var flat = _weight.view(_weight.shape[0], -1);
        var mean = flat.mean([1], keepdim: true).view(_weight.shape[0], 1, 1, 1);
        var std = flat.std(1, keepdim: true).view(_weight.shape[0], 1, 1, 1);
        var standardised = (_weight - mean) / (std + _eps);
        return nn.functional.conv2d(x, standardised, _bias, strides: [_stride, _stride], padding: [_padding, _padding], dilation: [_dilation, _dilation], groups: _groups)
            .MoveToOuterDisposeScope();
    }
}

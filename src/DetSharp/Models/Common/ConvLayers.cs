using DetSharp.Config;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Common;

/// <summary>
/// mmcv's <c>build_conv_layer(conv_cfg, ...)</c>: <c>None</c>, <c>Conv</c> or <c>Conv2d</c> a plain convolution,
/// <c>DCN</c> a <see cref="DeformConv2dPack"/>, <c>DCNv2</c> a modulated one (<c>deform_groups</c> from the dict,
/// also under its old name <c>deformable_groups</c>), <c>ConvWS</c> a <see cref="ConvWS2d"/>, <c>ConvAWS</c> a
/// <see cref="ConvAWS2d"/>, <c>NormedConv2d</c> a <see cref="NormedConv2d"/>.
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
            case "ConvAWS":
                return new ConvAWS2d(inChannels, outChannels, kernelSize, stride, padding, dilation, groups, bias);
            case "NormedConv2d":
                return NormedConv2d.FromConfig(cfg!, inChannels, outChannels, kernelSize, stride, padding, dilation, groups, bias);
            default:
                throw new DetSharpException($"conv_cfg: type '{type}' is not supported (use 'Conv2d', 'DCN', 'DCNv2', 'ConvWS', 'ConvAWS' or 'NormedConv2d').");
        }
    }

    /// <summary>
    /// Whether mmcv's <c>layer='Conv2d'</c> initialisers touch <paramref name="layer"/>: torch's Conv2d and its subclass
    /// ConvWS2d, ConvAWS2d and NormedConv2d, not the deformable modules (their own init stands).
    /// </summary>
    public static bool IsPlainConv(nn.Module layer) => layer is TorchSharp.Modules.Conv2d or ConvWS2d or ConvAWS2d or NormedConv2d;
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

/// <summary>
/// mmcv's <c>ConvAWS2d</c> (Adaptive Weight Standardization, DetectoRS): the weight standardised per output channel,
/// (w − mean) / √(var + 1e-5) with torch's unbiased variance, then scaled and shifted by the buffers
/// <c>weight_gamma</c> (ones) and <c>weight_beta</c> (zeros), both [out, 1, 1, 1]. Keys <c>weight</c>, <c>bias</c>,
/// <c>weight_gamma</c>, <c>weight_beta</c>. Loading a state dict without a positive <c>weight_gamma</c> (an ordinary
/// checkpoint) sets beta to the loaded weight's mean and gamma to its std, so the layer starts as the plain conv it
/// was trained as — mmcv's <c>_load_from_state_dict</c>.
/// </summary>
public sealed class ConvAWS2d : nn.Module<Tensor, Tensor>, Engine.Checkpoints.IStateDictLoadHook
{
    /// <summary>Parameters and buffers are registered explicitly under mmcv's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly TorchSharp.Modules.Parameter _weight;
    private readonly TorchSharp.Modules.Parameter? _bias;
    private readonly Tensor _weightGamma;
    private readonly Tensor _weightBeta;
    private readonly long _stride, _padding, _dilation, _groups;

    public ConvAWS2d(long inChannels, long outChannels, long kernelSize, long stride, long padding, long dilation, long groups, bool bias)
        : base(nameof(ConvAWS2d))
    {
        (_stride, _padding, _dilation, _groups) = (stride, padding, dilation, groups);
        // Initialised as torch's Conv2d; ConvModule then applies mmcv's Kaiming init as it does to any convolution.
        using var template = nn.Conv2d(inChannels, outChannels, kernelSize, groups: groups, bias: bias);
        _weight = new TorchSharp.Modules.Parameter(template.weight!.detach().clone());
        register_parameter("weight", _weight);
        if (bias)
        {
            _bias = new TorchSharp.Modules.Parameter(template.bias!.detach().clone());
            register_parameter("bias", _bias);
        }
        _weightGamma = ones(outChannels, 1, 1, 1);
        _weightBeta = zeros(outChannels, 1, 1, 1);
        register_buffer("weight_gamma", _weightGamma);
        register_buffer("weight_beta", _weightBeta);
    }

    /// <summary>The per-channel mean and √(var + 1e-5) of a weight, each [out, 1, 1, 1].</summary>
    private static (Tensor Mean, Tensor Std) Moments(Tensor weight)
    {
        var flat = weight.view(weight.shape[0], -1);
        return (flat.mean([1]).view(-1, 1, 1, 1), (flat.var(1) + 1e-5).sqrt().view(-1, 1, 1, 1));
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var (mean, std) = Moments(_weight);
        var weight = _weightGamma * ((_weight - mean) / std) + _weightBeta;
        return nn.functional.conv2d(x, weight, _bias, strides: [_stride, _stride], padding: [_padding, _padding], dilation: [_dilation, _dilation], groups: _groups)
            .MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public void AfterLoad(string prefix, IReadOnlyDictionary<string, Tensor> source, List<string> missingKeys)
    {
        // mmcv fills gamma with -1 before loading, so a gamma that did not come (positive) from the checkpoint is
        // recovered from the loaded weight.
        string gammaKey = prefix + "weight_gamma";
        bool gammaLoaded = source.TryGetValue(gammaKey, out var loaded) && loaded.shape.SequenceEqual(_weightGamma.shape);
        if (gammaLoaded && _weightGamma.mean().item<float>() > 0) return;
        using var scope = NewDisposeScope();
        using (no_grad())
        {
            var (mean, std) = Moments(_weight);
            _weightBeta.copy_(mean);
            _weightGamma.copy_(std);
        }
        missingKeys.Remove(gammaKey);
        missingKeys.Remove(prefix + "weight_beta");
    }
}

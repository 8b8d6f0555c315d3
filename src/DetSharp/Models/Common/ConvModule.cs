using DetSharp.Config;
using DetSharp.Models.Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Common;

/// <summary>
/// mmcv's <c>ConvModule</c>: <c>conv</c> (built from <c>conv_cfg</c> by <see cref="ConvLayers"/>; bias unless a norm
/// follows; <c>groups</c> for depthwise convs), an optional norm layer named by its type (<c>bn</c>, <c>gn</c>) and an
/// optional activation (ReLU, ReLU6, or Swish/SiLU for YOLOX: x·sigmoid(x)) — the submodule names give MMDetection's
/// keys (<c>lateral_convs.0.conv.weight</c>). Also one of mmcv's PLUGIN_LAYERS (<c>conv_block</c>), built from its config
/// by <see cref="FromConfig"/>.
/// </summary>
public sealed class ConvModule : nn.Module<Tensor, Tensor>, IPluginLayer, IOnnxExportable
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly nn.Module<Tensor, Tensor> _conv;
    private readonly nn.Module<Tensor, Tensor>? _norm;
    private readonly ConvActivation _act;
    private readonly long _outChannels;
    private readonly bool _activateFirst;

    /// <param name="bias">null = mmcv's 'auto': bias only without a norm layer.</param>
    /// <param name="withRelu">act_cfg=dict(type='ReLU') when true, act_cfg=None when false.</param>
    /// <param name="relu6">with <paramref name="withRelu"/>: act_cfg=dict(type='ReLU6') instead of ReLU.</param>
    /// <param name="activateFirst">mmcv's <c>order=('act', 'conv', 'norm')</c> (NAS-FPN's merge cells) instead of conv, norm, act.</param>
    public ConvModule(long inChannels, long outChannels, long kernelSize, long stride = 1, long padding = 0, long dilation = 1,
        ConfigDict? normCfg = null, bool withRelu = true, bool? bias = null, long groups = 1, bool relu6 = false, ConfigDict? convCfg = null,
        bool activateFirst = false)
        : this(inChannels, outChannels, kernelSize, stride, padding, dilation, normCfg, !withRelu ? ConvActivation.None : relu6 ? ConvActivation.ReLU6 : ConvActivation.ReLU,
            bias, groups, convCfg, activateFirst)
    {
    }

    /// <summary>A ConvModule with mmcv's <c>act_cfg</c> (None, ReLU, ReLU6, Swish or SiLU; others refused naming <paramref name="owner"/>).</summary>
    public ConvModule(long inChannels, long outChannels, long kernelSize, ConfigDict? actCfg, string owner, long stride = 1, long padding = 0,
        ConfigDict? normCfg = null, long groups = 1, ConfigDict? convCfg = null, bool? bias = null)
        : this(inChannels, outChannels, kernelSize, stride, padding, 1, normCfg, ActivationOf(actCfg, owner), bias, groups, convCfg, false)
    {
    }

    private ConvModule(long inChannels, long outChannels, long kernelSize, long stride, long padding, long dilation, ConfigDict? normCfg,
        ConvActivation act, bool? bias, long groups, ConfigDict? convCfg, bool activateFirst)
        : this(ConvLayers.Build(convCfg, inChannels, outChannels, kernelSize, stride, padding, dilation, groups, bias ?? normCfg is null),
            outChannels, normCfg, act, activateFirst)
    {
        // mmcv ConvModule.init_weights: kaiming (fan_out, relu; Swish too) for the conv unless it initialises itself (the
        // deformable ones); the norm is set to constant 1/0 where it is built.
        if (ConvLayers.IsPlainConv(_conv)) ModuleTools.KaimingInit(_conv);
    }

    private ConvModule(nn.Module<Tensor, Tensor> conv, long outChannels, ConfigDict? normCfg, ConvActivation act, bool activateFirst)
        : base(nameof(ConvModule))
    {
        _conv = conv;
        register_module("conv", _conv);
        if (normCfg is not null)
        {
            var (name, layer) = NormLayers.Build(normCfg, outChannels);
            _norm = (nn.Module<Tensor, Tensor>)layer;
            register_module(name, layer);
            ModuleTools.ConstantInit(_norm, 1);
        }
        _outChannels = outChannels;
        _act = act;
        _activateFirst = activateFirst;
    }

    /// <summary>
    /// A ConvModule whose <c>conv</c> is this one's (the same parameters, listed under both modules' keys in the state dict
    /// and once by <c>parameters()</c>) with its own norm layer of <paramref name="normCfg"/>: what RetinaSepBNHead makes
    /// of every FPN level but the first (<c>self.cls_convs[j][i].conv = self.cls_convs[0][i].conv</c>).
    /// </summary>
    public ConvModule SharingConv(ConfigDict? normCfg) => new(_conv, _outChannels, normCfg, _act, _activateFirst);

    /// <summary>mmcv's <c>_abbr_</c>.</summary>
    public string Abbreviation => "conv_block";

    /// <summary>
    /// A ConvModule from mmcv's keyword arguments (a <c>pre_cfg</c> or a plugin's config): <c>in_channels</c>,
    /// <c>out_channels</c>, <c>kernel_size</c>, <c>stride</c>, <c>padding</c>, <c>dilation</c>, <c>groups</c>, <c>bias</c>
    /// ('auto' or a bool), <c>conv_cfg</c>, <c>norm_cfg</c>, <c>act_cfg</c> (default ReLU; None: no activation),
    /// <c>inplace</c> (memory only, no effect on the result), <c>order</c> (conv-norm-act or act-conv-norm).
    /// </summary>
    public static ConvModule FromConfig(ConfigDict cfg)
    {
        string where = $"{cfg.SourceFile ?? "config"}: '{cfg.Path}': ConvModule";
        string[] known = ["type", "in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias", "conv_cfg",
            "norm_cfg", "act_cfg", "inplace", "with_spectral_norm", "padding_mode", "order"];
        foreach (var key in cfg.Keys)
            if (!known.Contains(key))
                throw new DetSharpException($"{where} got an unexpected argument '{key}'. It accepts: {string.Join(", ", known.Skip(1))}.");
        if (cfg.Get("with_spectral_norm", false))
            throw new DetSharpException($"{where}: with_spectral_norm=True is not supported; remove it.");
        if (cfg.Get("padding_mode", "zeros") != "zeros")
            throw new DetSharpException($"{where}: padding_mode '{cfg.Get<string>("padding_mode")}' is not supported; use 'zeros'.");
        bool activateFirst = cfg.TryGet<string[]>("order", out var order) ? string.Join(",", order) switch
        {
            "conv,norm,act" => false,
            "act,conv,norm" => true,
            var o => throw new DetSharpException($"{where}: order ({o}) is not supported; use ('conv', 'norm', 'act') or ('act', 'conv', 'norm')."),
        } : false;
        bool? bias = cfg.TryGetValue("bias", out var b) && b is not "auto" ? cfg.Get<bool>("bias") : null;
        ConfigDict? actCfg = cfg.TryGetValue("act_cfg", out var a) ? (ConfigDict?)a : new ConfigDict { ["type"] = "ReLU" };
        var (withRelu, relu6) = Activation(actCfg, where);
        return new ConvModule(cfg.Get<long>("in_channels"), cfg.Get<long>("out_channels"), cfg.Get<long>("kernel_size"), cfg.Get("stride", 1L),
            cfg.Get("padding", 0L), cfg.Get("dilation", 1L), cfg.TryGetValue("norm_cfg", out var n) ? (ConfigDict?)n : null, withRelu, bias,
            cfg.Get("groups", 1L), relu6, cfg.TryGetValue("conv_cfg", out var c) ? (ConfigDict?)c : null, activateFirst);
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

    /// <summary>An <c>act_cfg</c> of any activation a ConvModule applies; other types are refused naming <paramref name="owner"/>.</summary>
    public static ConvActivation ActivationOf(ConfigDict? actCfg, string owner) => actCfg?.Get<string>("type") switch
    {
        null => ConvActivation.None,
        "ReLU" => ConvActivation.ReLU,
        "ReLU6" => ConvActivation.ReLU6,
        // mmcv's Swish (x·sigmoid(x)) and torch's SiLU, registered by mmcv as 'SiLU', are the same function.
        "Swish" or "SiLU" => ConvActivation.Swish,
        var t => throw new DetSharpException($"{owner}: act_cfg type '{t}' is not supported (ReLU, ReLU6, Swish, SiLU or None)."),
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

    public IReadOnlyList<string> ExportOnnx(OnnxExportContext ctx, IReadOnlyList<string> inputs)
    {
        string x = inputs[0];
        if (_activateFirst) x = ExportActivation(ctx, x, "act_in");
        var y = ctx.Forward(_conv, x);
        if (_norm is not null) y = ctx.Forward(_norm, y);
        return [_activateFirst ? y : ExportActivation(ctx, y, "act")];
    }

    private string ExportActivation(OnnxExportContext ctx, string x, string name) => _act switch
    {
        ConvActivation.ReLU => ctx.Relu(x, ctx.ValueName(this, name)),
        ConvActivation.ReLU6 => ctx.Relu6(x, ctx.ValueName(this, name)),
        ConvActivation.Swish => ctx.Swish(x, ctx.ValueName(this, name)),
        _ => x,
    };

    private Tensor Activate(Tensor x)
    {
        return _act switch
        {
            ConvActivation.ReLU => nn.functional.relu(x),
            ConvActivation.ReLU6 => nn.functional.relu6(x),
            ConvActivation.Swish => nn.functional.silu(x),
            _ => x,
        };
    }
}

/// <summary>The activations a <see cref="ConvModule"/> applies (mmcv's <c>act_cfg</c> types it supports).</summary>
public enum ConvActivation
{
    None,
    ReLU,
    ReLU6,
    Swish,
}

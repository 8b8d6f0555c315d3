using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Models.Weights;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Necks;

/// <summary>
/// MMDetection's <c>SSDNeck</c>: the inputs pass through (the first one L2-normalised by <see cref="L2Norm"/> when
/// <c>l2_norm_scale</c> is set), then each extra level is a 1×1 ConvModule to half its channels and a ConvModule
/// (3×3, or <c>last_kernel_size</c> on the last level; a DepthwiseSeparableConvModule with <c>use_depthwise</c>, as
/// SSDLite) with the level's stride and padding, on the previous output: <c>extra_layers.i.0</c> / <c>extra_layers.i.1</c>. <c>out_channels</c> starts with <c>in_channels</c>. Convs are
/// Xavier-uniform initialised and the L2Norm weight set to the scale, as the neck's default <c>init_cfg</c>.
/// </summary>
[Register(Registries.ModelsName, "SSDNeck")]
public sealed class SSDNeck : nn.Module<Tensor[], Tensor[]>, IHasInitCfg
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly L2Norm? _l2Norm;
    private readonly List<(ConvModule Reduce, nn.Module<Tensor, Tensor> Conv)> _extraLayers = [];

    public SSDNeck(int[] inChannels, int[] outChannels, int[] levelStrides, int[] levelPaddings, double? l2NormScale = 20.0,
        int lastKernelSize = 3, bool useDepthwise = false, ConfigDict? convCfg = null, ConfigDict? normCfg = null,
        ConfigOptional<ConfigDict> actCfg = default, object? initCfg = null)
        : base(nameof(SSDNeck))
    {
        if (convCfg is not null) throw new DetSharpException("SSDNeck: conv_cfg is not supported (only the default Conv2d).");
        if (outChannels.Length <= inChannels.Length || outChannels.Length - inChannels.Length != levelStrides.Length
            || levelStrides.Length != levelPaddings.Length || !inChannels.AsSpan().SequenceEqual(outChannels.AsSpan(0, inChannels.Length)))
            throw new DetSharpException("SSDNeck: out_channels must start with in_channels and add one entry per level_strides / level_paddings entry.");
        // act_cfg defaults to ReLU in MMDetection; an explicit None means no activation.
        var (withRelu, relu6) = ConvModule.Activation(actCfg.Or(new ConfigDict { ["type"] = "ReLU" }), "SSDNeck");
        InitCfg = initCfg;
        if (l2NormScale is { } scale && scale != 0)
        {
            _l2Norm = new L2Norm(inChannels[0], scale);
            register_module("l2_norm", _l2Norm);
        }
        var layers = new List<nn.Module<Tensor, Tensor>>();
        int extra = outChannels.Length - inChannels.Length;
        for (int i = 0; i < extra; i++)
        {
            int outChannel = outChannels[inChannels.Length + i];
            int kernel = i == extra - 1 ? lastKernelSize : 3;
            var reduce = new ConvModule(outChannels[inChannels.Length - 1 + i], outChannel / 2, 1, normCfg: normCfg, withRelu: withRelu, relu6: relu6);
            ModuleTools.XavierUniformInit(reduce.Conv);
            nn.Module<Tensor, Tensor> conv;
            if (useDepthwise)
            {
                var dw = new DepthwiseSeparableConvModule(outChannel / 2, outChannel, kernel, levelStrides[i], levelPaddings[i], normCfg: normCfg, withRelu: withRelu, relu6: relu6);
                ModuleTools.XavierUniformInit(dw.Depthwise.Conv);
                ModuleTools.XavierUniformInit(dw.Pointwise.Conv);
                conv = dw;
            }
            else
            {
                var plain = new ConvModule(outChannel / 2, outChannel, kernel, stride: levelStrides[i], padding: levelPaddings[i], normCfg: normCfg, withRelu: withRelu, relu6: relu6);
                ModuleTools.XavierUniformInit(plain.Conv);
                conv = plain;
            }
            _extraLayers.Add((reduce, conv));
            layers.Add(nn.Sequential(("0", (nn.Module<Tensor, Tensor>)reduce), ("1", conv)));
        }
        register_module("extra_layers", nn.ModuleList(layers.ToArray()));
    }

    public object? InitCfg { get; }

    public override Tensor[] forward(Tensor[] inputs)
    {
        var outs = new List<Tensor>(inputs);
        if (_l2Norm is not null) outs[0] = _l2Norm.forward(outs[0]);
        var feat = outs[^1];
        foreach (var (reduce, conv) in _extraLayers)
        {
            feat = conv.forward(reduce.forward(feat));
            outs.Add(feat);
        }
        return [.. outs];
    }
}

/// <summary>
/// SSD's <c>L2Norm</c>: each position's channel vector divided by its L2 norm (+ <c>eps</c> 1e-10) and multiplied by a
/// learned per-channel <c>weight</c>, initialised to <c>scale</c> (20).
/// </summary>
public sealed class L2Norm : nn.Module<Tensor, Tensor>
{
    /// <summary>The one parameter is registered explicitly as <c>weight</c>; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly TorchSharp.Modules.Parameter _weight;
    private readonly double _eps;

    public L2Norm(int nDims, double scale = 20.0, double eps = 1e-10)
        : base(nameof(L2Norm))
    {
        _eps = eps;
        Scale = scale;
        _weight = new TorchSharp.Modules.Parameter(full(nDims, scale, ScalarType.Float32));
        register_parameter("weight", _weight);
    }

    public double Scale { get; }

    public override Tensor forward(Tensor x)
    {
        var xf = x.to_type(ScalarType.Float32);
        var norm = xf.pow(2).sum(1, keepdim: true).sqrt() + _eps;
        return (_weight[TensorIndex.None, .., TensorIndex.None, TensorIndex.None] * xf / norm).to_type(x.dtype);
    }
}

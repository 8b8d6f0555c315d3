using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Models.Weights;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Backbones;

/// <summary>
/// MMDetection's <c>MobileNetV2</c> backbone (SSDLite's): <c>conv1</c> (3×3 stride 2 ConvModule), seven stages
/// <c>layer1..layer7</c> of <see cref="InvertedResidual"/> blocks (expand ratio, channels, blocks, first stride: (1, 16, 1, 1),
/// (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1); channels × <c>widen_factor</c>
/// rounded by <c>make_divisible</c> to multiples of 8) and <c>conv2</c> (1×1 to 1280, or 1280 × widen_factor above 1).
/// <c>out_indices</c> count layer1..layer7 as 0..6 and conv2 as 7. Norm BN and ReLU6 by default; <c>frozen_stages</c>
/// freezes conv1 and the first stages, <c>norm_eval</c> keeps BatchNorms in eval mode. Init: Kaiming convs, norms 1.
/// </summary>
[Register(Registries.ModelsName, "MobileNetV2")]
public sealed class MobileNetV2 : nn.Module<Tensor, Tensor[]>, IHasInitCfg
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private static readonly (int Expand, int Channels, int Blocks, int Stride)[] Arch =
        [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)];

    private readonly ConvModule _conv1;
    private readonly List<nn.Module<Tensor, Tensor>> _layers = [];
    private readonly HashSet<int> _outIndices;
    private readonly int _frozenStages;
    private readonly bool _normEval;

    public MobileNetV2(double widenFactor = 1.0, int[]? outIndices = null, int frozenStages = -1, ConfigDict? convCfg = null,
        ConfigOptional<ConfigDict> normCfg = default, ConfigOptional<ConfigDict> actCfg = default, bool normEval = false, bool withCp = false,
        string? pretrained = null, object? initCfg = null)
        : base(nameof(MobileNetV2))
    {
        _ = withCp; // gradient checkpointing only trades memory for time
        if (convCfg is not null) throw new DetSharpException("MobileNetV2: conv_cfg is not supported (only the default Conv2d).");
        if (initCfg is not null && pretrained is not null)
            throw new DetSharpException("MobileNetV2: init_cfg and pretrained cannot be specified at the same time.");
        var indices = outIndices ?? [1, 2, 4, 7];
        if (indices.Any(i => i is < 0 or > 7)) throw new DetSharpException($"MobileNetV2: out_indices must be a subset of range(0, 8), got ({string.Join(", ", indices)}).");
        if (frozenStages is < -1 or > 7) throw new DetSharpException($"MobileNetV2: frozen_stages must be in range(-1, 8), got {frozenStages}.");
        _outIndices = [.. indices];
        _frozenStages = frozenStages;
        _normEval = normEval;
        InitCfg = initCfg ?? (pretrained is null ? null : new ConfigDict { ["type"] = "Pretrained", ["checkpoint"] = pretrained });
        var norm = normCfg.Or(NormLayers.DefaultBn());
        var (withRelu, relu6) = ConvModule.Activation(actCfg.Or(new ConfigDict { ["type"] = "ReLU6" }), "MobileNetV2");

        int inChannels = MakeDivisible(32 * widenFactor, 8);
        _conv1 = new ConvModule(3, inChannels, 3, stride: 2, padding: 1, normCfg: norm, withRelu: withRelu, relu6: relu6);
        register_module("conv1", _conv1);
        for (int s = 0; s < Arch.Length; s++)
        {
            var (expand, channels, blocks, stride) = Arch[s];
            int outChannels = MakeDivisible(channels * widenFactor, 8);
            var stage = new List<(string, nn.Module<Tensor, Tensor>)>();
            for (int b = 0; b < blocks; b++)
            {
                var block = new InvertedResidual(inChannels, outChannels, (int)Math.Round(inChannels * (double)expand, MidpointRounding.ToEven),
                    b == 0 ? stride : 1, expand != 1, norm, withRelu, relu6);
                stage.Add((b.ToString(System.Globalization.CultureInfo.InvariantCulture), block));
                inChannels = outChannels;
            }
            var layer = nn.Sequential(stage);
            _layers.Add(layer);
            register_module($"layer{s + 1}", layer);
        }
        int lastChannels = widenFactor > 1.0 ? (int)(1280 * widenFactor) : 1280;
        var conv2 = new ConvModule(inChannels, lastChannels, 1, normCfg: norm, withRelu: withRelu, relu6: relu6);
        _layers.Add(conv2);
        register_module("conv2", conv2);
    }

    public object? InitCfg { get; }

    /// <summary>MMDetection's <c>make_divisible</c>: the nearest multiple of the divisor, at least the divisor and 90 % of the value.</summary>
    public static int MakeDivisible(double value, int divisor, int? minValue = null, double minRatio = 0.9)
    {
        int newValue = Math.Max(minValue ?? divisor, (int)(value + divisor / 2.0) / divisor * divisor);
        return newValue < minRatio * value ? newValue + divisor : newValue;
    }

    private void FreezeStages()
    {
        if (_frozenStages >= 0) ModuleTools.SetRequiresGrad(_conv1, false);
        for (int i = 1; i <= _frozenStages; i++)
        {
            _layers[i - 1].eval();
            ModuleTools.SetRequiresGrad(_layers[i - 1], false);
        }
    }

    public override void train(bool train = true)
    {
        base.train(train);
        FreezeStages();
        if (train && _normEval) NormLayers.EvalBatchNorms(this);
    }

    public override Tensor[] forward(Tensor x)
    {
        x = _conv1.forward(x);
        var outs = new List<Tensor>();
        for (int i = 0; i < _layers.Count; i++)
        {
            x = _layers[i].forward(x);
            if (_outIndices.Contains(i)) outs.Add(x);
        }
        return [.. outs];
    }
}

/// <summary>
/// MMDetection's <c>InvertedResidual</c> (MobileNetV2's block): an optional 1×1 <c>expand_conv</c> to the mid channels,
/// a 3×3 depthwise <c>depthwise_conv</c> with the stride, a 1×1 <c>linear_conv</c> without activation, and the input
/// added back when the stride is 1 and the channels do not change.
/// </summary>
public sealed class InvertedResidual : nn.Module<Tensor, Tensor>
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly ConvModule? _expand;
    private readonly ConvModule _depthwise, _linear;
    private readonly bool _residual;

    public InvertedResidual(int inChannels, int outChannels, int midChannels, int stride, bool withExpandConv, ConfigDict? normCfg, bool withRelu, bool relu6)
        : base(nameof(InvertedResidual))
    {
        if (!withExpandConv && midChannels != inChannels)
            throw new DetSharpException("InvertedResidual: without expand_conv the mid channels must equal the input channels.");
        _residual = stride == 1 && inChannels == outChannels;
        if (withExpandConv)
        {
            _expand = new ConvModule(inChannels, midChannels, 1, normCfg: normCfg, withRelu: withRelu, relu6: relu6);
            register_module("expand_conv", _expand);
        }
        _depthwise = new ConvModule(midChannels, midChannels, 3, stride, 1, normCfg: normCfg, withRelu: withRelu, groups: midChannels, relu6: relu6);
        _linear = new ConvModule(midChannels, outChannels, 1, normCfg: normCfg, withRelu: false);
        register_module("depthwise_conv", _depthwise);
        register_module("linear_conv", _linear);
    }

    public override Tensor forward(Tensor x)
    {
        var y = _expand is null ? x : _expand.forward(x);
        y = _linear.forward(_depthwise.forward(y));
        return _residual ? x + y : y;
    }
}

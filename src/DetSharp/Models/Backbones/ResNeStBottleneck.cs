using DetSharp.Config;
using DetSharp.Models.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Backbones;

/// <summary>
/// ResNeSt's <c>Bottleneck</c> (expansion 4): conv1 1×1 to the ResNeXt width (bn1), conv2 a
/// <see cref="SplitAttentionConv2d"/> (no bn2), then with <c>avg_down_stride</c> and a stride the 3×3 average pool
/// <c>avd_layer</c> takes the stride instead of conv2; conv3 1×1 (bn3), residual.
/// </summary>
public sealed class ResNeStBottleneck : nn.Module<Tensor, Tensor>, IResidualBlock
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    public const int Expansion = 4;
    private readonly nn.Module<Tensor, Tensor> _conv1, _bn1, _conv2, _conv3, _bn3;
    private readonly nn.Module<Tensor, Tensor>? _downsample, _avdLayer;

    public ResNeStBottleneck(long inplanes, long planes, long stride, long dilation, nn.Module<Tensor, Tensor>? downsample, ResNetStyle style,
        ConfigDict normCfg, int groups, int baseWidth, int baseChannels, int radix, int reductionFactor, bool avgDownStride)
        : base(nameof(ResNeStBottleneck))
    {
        long width = Bottleneck.Width(planes, groups, baseWidth, baseChannels);
        long conv1Stride = style == ResNetStyle.Pytorch ? 1 : stride;
        long conv2Stride = style == ResNetStyle.Pytorch ? stride : 1;
        bool avd = avgDownStride && conv2Stride > 1;
        _conv1 = nn.Conv2d(inplanes, width, 1, stride: conv1Stride, bias: false);
        register_module("conv1", _conv1);
        var (n1, bn1) = NormLayers.Build(normCfg, width, "1");
        _bn1 = (nn.Module<Tensor, Tensor>)bn1;
        register_module(n1, bn1);
        _conv2 = new SplitAttentionConv2d(width, width, 3, avd ? 1 : conv2Stride, dilation, dilation, groups, radix, reductionFactor, normCfg);
        register_module("conv2", _conv2);
        if (avd)
        {
            _avdLayer = nn.AvgPool2d(3, conv2Stride, padding: 1);
            register_module("avd_layer", _avdLayer);
        }
        _conv3 = nn.Conv2d(width, planes * Expansion, 1, bias: false);
        register_module("conv3", _conv3);
        var (n3, bn3) = NormLayers.Build(normCfg, planes * Expansion, "3");
        _bn3 = (nn.Module<Tensor, Tensor>)bn3;
        register_module(n3, bn3);
        if (downsample is not null)
        {
            _downsample = downsample;
            register_module("downsample", downsample);
        }
    }

    /// <summary>The last norm layer (zero-initialised when <c>zero_init_residual</c>).</summary>
    public nn.Module LastNorm => _bn3;

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var identity = _downsample is null ? x : _downsample.forward(x);
        var o = nn.functional.relu(_bn1.forward(_conv1.forward(x)));
        o = _conv2.forward(o);
        if (_avdLayer is not null) o = _avdLayer.forward(o);
        o = _bn3.forward(_conv3.forward(o));
        return nn.functional.relu(o + identity).MoveToOuterDisposeScope();
    }
}

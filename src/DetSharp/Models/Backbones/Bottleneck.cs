using DetSharp.Config;
using DetSharp.Models.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Backbones;

/// <summary>
/// MMDetection's ResNet <c>Bottleneck</c> (expansion 4): conv1 1×1, conv2 3×3, conv3 1×1 with bn1..bn3. Style
/// 'pytorch' puts the stride on conv2, 'caffe' on conv1.
/// </summary>
public sealed class Bottleneck : nn.Module<Tensor, Tensor>
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    public const int Expansion = 4;
    private readonly nn.Module<Tensor, Tensor> _conv1, _bn1, _conv2, _bn2, _conv3, _bn3;
    private readonly nn.Module<Tensor, Tensor>? _downsample;

    public Bottleneck(long inplanes, long planes, long stride, long dilation, nn.Module<Tensor, Tensor>? downsample, ResNetStyle style, ConfigDict normCfg)
        : base(nameof(Bottleneck))
    {
        long conv1Stride = style == ResNetStyle.Pytorch ? 1 : stride;
        long conv2Stride = style == ResNetStyle.Pytorch ? stride : 1;
        _conv1 = nn.Conv2d(inplanes, planes, 1, stride: conv1Stride, bias: false);
        register_module("conv1", _conv1);
        var (n1, bn1) = NormLayers.Build(normCfg, planes, "1");
        _bn1 = (nn.Module<Tensor, Tensor>)bn1;
        register_module(n1, bn1);
        _conv2 = nn.Conv2d(planes, planes, 3, stride: conv2Stride, padding: dilation, dilation: dilation, bias: false);
        register_module("conv2", _conv2);
        var (n2, bn2) = NormLayers.Build(normCfg, planes, "2");
        _bn2 = (nn.Module<Tensor, Tensor>)bn2;
        register_module(n2, bn2);
        _conv3 = nn.Conv2d(planes, planes * Expansion, 1, bias: false);
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
        o = nn.functional.relu(_bn2.forward(_conv2.forward(o)));
        o = _bn3.forward(_conv3.forward(o));
        return nn.functional.relu(o + identity).MoveToOuterDisposeScope();
    }
}

using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Models.Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Backbones;

/// <summary>MMDetection's ResNet <c>BasicBlock</c> (expansion 1): conv1 3×3 (stride, dilation), bn1, conv2 3×3, bn2, downsample.</summary>
public sealed class BasicBlock : nn.Module<Tensor, Tensor>, IResidualBlock, IOnnxExportable
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    public const int Expansion = 1;
    private readonly nn.Module<Tensor, Tensor> _conv1, _bn1, _conv2, _bn2;
    private readonly nn.Module<Tensor, Tensor>? _downsample;
    private readonly long[]? _conv1Pad;

    /// <param name="conv1Pad">
    /// Explicit zero padding (left, right, top, bottom) before <c>conv1</c>, which then pads nothing itself: CNTK's
    /// asymmetric "same" padding of a stride-2 3×3 conv is (1, 0, 1, 0). Null: the usual symmetric padding.
    /// </param>
    public BasicBlock(long inplanes, long planes, long stride, long dilation, nn.Module<Tensor, Tensor>? downsample, ConfigDict normCfg,
        long[]? conv1Pad = null, ConfigDict? convCfg = null)
        : base(nameof(BasicBlock))
    {
        _conv1Pad = conv1Pad;
        _conv1 = ConvLayers.Build(convCfg, inplanes, planes, 3, stride, conv1Pad is null ? dilation : 0, dilation, bias: false);
        register_module("conv1", _conv1);
        var (n1, bn1) = NormLayers.Build(normCfg, planes, "1");
        _bn1 = (nn.Module<Tensor, Tensor>)bn1;
        register_module(n1, bn1);
        _conv2 = ConvLayers.Build(convCfg, planes, planes, 3, padding: 1, bias: false);
        register_module("conv2", _conv2);
        var (n2, bn2) = NormLayers.Build(normCfg, planes, "2");
        _bn2 = (nn.Module<Tensor, Tensor>)bn2;
        register_module(n2, bn2);
        if (downsample is not null)
        {
            _downsample = downsample;
            register_module("downsample", downsample);
        }
    }

    /// <summary>The last norm layer (zero-initialised when <c>zero_init_residual</c>).</summary>
    public nn.Module LastNorm => _bn2;

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var identity = _downsample is null ? x : _downsample.forward(x);
        var o = nn.functional.relu(_bn1.forward(_conv1.forward(_conv1Pad is null ? x : nn.functional.pad(x, _conv1Pad))));
        o = _bn2.forward(_conv2.forward(o));
        return nn.functional.relu(o + identity).MoveToOuterDisposeScope();
    }

    public IReadOnlyList<string> ExportOnnx(OnnxExportContext ctx, IReadOnlyList<string> inputs)
    {
        string x = inputs[0];
        string identity = _downsample is null ? x : ctx.Forward(_downsample, x);
        string padded = _conv1Pad is null ? x : ctx.Pad(x, ctx.ValueName(this, "pad1"), _conv1Pad);
        var o = ctx.Relu(ctx.Forward(_bn1, ctx.Forward(_conv1, padded)), ctx.ValueName(this, "relu1"));
        o = ctx.Forward(_bn2, ctx.Forward(_conv2, o));
        return [ctx.Relu(ctx.Add(o, identity, ctx.ValueName(this, "add")), ctx.ValueName(this))];
    }
}

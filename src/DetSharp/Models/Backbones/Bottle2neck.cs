using DetSharp.Config;
using DetSharp.Models.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Backbones;

/// <summary>Res2Net's block type: the first block of a stage ('stage') does not chain its splits and pools the last one when strided.</summary>
public enum Bottle2neckStageType
{
    Normal,
    Stage,
}

/// <summary>
/// Res2Net's <c>Bottle2neck</c> (expansion 4): conv1 1×1 to <c>width · scales</c> channels (bn1), split into
/// <c>scales</c> groups of <c>width</c> = floor(planes · base_width / base_channels); the first scales − 1 go through
/// their own 3×3 conv + BN + ReLU (<c>convs.i</c>, <c>bns.i</c>), each ('normal') after adding the previous one's
/// output; the last is passed on as it is (average-pooled 3×3 when a strided 'stage' block); conv3 1×1 (bn3), residual.
/// With the backbone's <c>dcn</c> on this stage the split convs are deformable (<see cref="ConvLayers.Build"/>).
/// </summary>
public sealed class Bottle2neck : nn.Module<Tensor, Tensor>, IResidualBlock
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    public const int Expansion = 4;
    private readonly nn.Module<Tensor, Tensor> _conv1, _bn1, _conv3, _bn3;
    private readonly List<nn.Module<Tensor, Tensor>> _convs = [], _bns = [];
    private readonly nn.Module<Tensor, Tensor>? _downsample, _pool;
    private readonly Bottle2neckStageType _stageType;
    private readonly long _width;
    private readonly int _scales;

    public Bottle2neck(long inplanes, long planes, long stride, long dilation, nn.Module<Tensor, Tensor>? downsample, ResNetStyle style, ConfigDict normCfg,
        int scales, int baseWidth, int baseChannels, Bottle2neckStageType stageType, ConfigDict? dcn = null)
        : base(nameof(Bottle2neck))
    {
        if (scales <= 1) throw new DetSharpException($"Res2Net: scales must be > 1 (with 1 it is ResNet), got {scales}.");
        _scales = scales;
        _stageType = stageType;
        _width = (long)Math.Floor(planes * ((double)baseWidth / baseChannels));
        long conv1Stride = style == ResNetStyle.Pytorch ? 1 : stride;
        long conv2Stride = style == ResNetStyle.Pytorch ? stride : 1;
        _conv1 = nn.Conv2d(inplanes, _width * scales, 1, stride: conv1Stride, bias: false);
        register_module("conv1", _conv1);
        var (n1, bn1) = NormLayers.Build(normCfg, _width * scales, "1");
        _bn1 = (nn.Module<Tensor, Tensor>)bn1;
        register_module(n1, bn1);
        _conv3 = nn.Conv2d(_width * scales, planes * Expansion, 1, bias: false);
        register_module("conv3", _conv3);
        var (n3, bn3) = NormLayers.Build(normCfg, planes * Expansion, "3");
        _bn3 = (nn.Module<Tensor, Tensor>)bn3;
        register_module(n3, bn3);
        if (downsample is not null)
        {
            _downsample = downsample;
            register_module("downsample", downsample);
        }
        // MMDetection's registration order (its state_dict order): Bottleneck's conv1, bn1, conv3, bn3 and downsample
        // first, then the pool, convs and bns Bottle2neck adds.
        if (stageType == Bottle2neckStageType.Stage && conv2Stride != 1)
        {
            _pool = nn.AvgPool2d(3, conv2Stride, padding: 1);
            register_module("pool", _pool);
        }
        for (int i = 0; i < scales - 1; i++)
        {
            // With dcn (and no fallback_on_stride) every split's 3×3 conv is the deformable one, as Bottleneck's conv2.
            var conv = dcn is null || dcn.Get("fallback_on_stride", false)
                ? nn.Conv2d(_width, _width, 3, stride: conv2Stride, padding: dilation, dilation: dilation, bias: false)
                : ConvLayers.Build(dcn, _width, _width, 3, conv2Stride, dilation, dilation, bias: false);
            var (_, bn) = NormLayers.Build(normCfg, _width);
            _convs.Add(conv);
            _bns.Add((nn.Module<Tensor, Tensor>)bn);
        }
        register_module("convs", nn.ModuleList(_convs.ToArray()));
        register_module("bns", nn.ModuleList(_bns.ToArray()));
    }

    /// <summary>The last norm layer (zero-initialised when <c>zero_init_residual</c>).</summary>
    public nn.Module LastNorm => _bn3;

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var identity = _downsample is null ? x : _downsample.forward(x);
        var o = nn.functional.relu(_bn1.forward(_conv1.forward(x)));
        var spx = o.split(_width, 1);
        var parts = new List<Tensor>(_scales);
        var sp = nn.functional.relu(_bns[0].forward(_convs[0].forward(spx[0].contiguous())));
        parts.Add(sp);
        for (int i = 1; i < _scales - 1; i++)
        {
            sp = _stageType == Bottle2neckStageType.Stage ? spx[i] : sp + spx[i];
            sp = nn.functional.relu(_bns[i].forward(_convs[i].forward(sp.contiguous())));
            parts.Add(sp);
        }
        parts.Add(_pool is null ? spx[_scales - 1] : _pool.forward(spx[_scales - 1]));
        o = _bn3.forward(_conv3.forward(cat(parts, 1)));
        return nn.functional.relu(o + identity).MoveToOuterDisposeScope();
    }
}

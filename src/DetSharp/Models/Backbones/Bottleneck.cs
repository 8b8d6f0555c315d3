using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Models.Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Backbones;

/// <summary>
/// MMDetection's ResNet <c>Bottleneck</c> and ResNeXt's grouped one (the same keys): conv1 1×1 to <c>width</c>, conv2
/// 3×3 grouped, conv3 1×1 to planes × expansion, with bn1..bn3. ResNet's width is planes with one group; ResNeXt's is
/// <see cref="Width"/>. RegNet uses it with expansion 1. Style 'pytorch' puts the stride on conv2, 'caffe' on conv1.
/// <c>plugins</c> (ContextBlock, GeneralizedAttention, NonLocal2d, ...) run after conv1, conv2 (on <c>width</c> channels)
/// or conv3 (on planes × expansion), registered after <c>downsample</c> under their names, as MMDetection's.
/// </summary>
public sealed class Bottleneck : nn.Module<Tensor, Tensor>, IResidualBlock, IOnnxExportable
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    public const int Expansion = 4;
    private readonly nn.Module<Tensor, Tensor> _conv1, _bn1, _conv2, _bn2, _conv3, _bn3;
    private readonly nn.Module<Tensor, Tensor>? _downsample;
    private readonly nn.Module<Tensor, Tensor>[] _afterConv1, _afterConv2, _afterConv3;

    /// <param name="width">Channels of conv1/conv2; null: <paramref name="planes"/> (ResNet).</param>
    /// <param name="groups">Groups of conv2 (ResNeXt's cardinality).</param>
    /// <param name="expansion">conv3's channels over planes: 4, or 1 in RegNet.</param>
    /// <param name="dcn">
    /// conv2 as a deformable convolution (<c>dict(type='DCN'|'DCNv2', deform_groups, fallback_on_stride)</c>); with
    /// <c>fallback_on_stride</c> it stays a plain convolution, as in MMDetection.
    /// </param>
    /// <param name="plugins">The stage's plugins (<see cref="BlockPlugin.ForStage"/>); null or empty: none.</param>
    public Bottleneck(long inplanes, long planes, long stride, long dilation, nn.Module<Tensor, Tensor>? downsample, ResNetStyle style, ConfigDict normCfg,
        long? width = null, long groups = 1, int expansion = Expansion, ConfigDict? dcn = null, ConfigDict? convCfg = null,
        IReadOnlyList<BlockPlugin>? plugins = null)
        : base(nameof(Bottleneck))
    {
        long w = width ?? planes;
        long conv1Stride = style == ResNetStyle.Pytorch ? 1 : stride;
        long conv2Stride = style == ResNetStyle.Pytorch ? stride : 1;
        _conv1 = ConvLayers.Build(convCfg, inplanes, w, 1, conv1Stride, bias: false);
        register_module("conv1", _conv1);
        var (n1, bn1) = NormLayers.Build(normCfg, w, "1");
        _bn1 = (nn.Module<Tensor, Tensor>)bn1;
        register_module(n1, bn1);
        _conv2 = dcn is null || dcn.Get("fallback_on_stride", false)
            ? ConvLayers.Build(convCfg, w, w, 3, conv2Stride, dilation, dilation, groups, bias: false)
            : ConvLayers.Build(dcn, w, w, 3, conv2Stride, dilation, dilation, groups, bias: false);
        register_module("conv2", _conv2);
        var (n2, bn2) = NormLayers.Build(normCfg, w, "2");
        _bn2 = (nn.Module<Tensor, Tensor>)bn2;
        register_module(n2, bn2);
        _conv3 = ConvLayers.Build(convCfg, w, planes * expansion, 1, bias: false);
        register_module("conv3", _conv3);
        var (n3, bn3) = NormLayers.Build(normCfg, planes * expansion, "3");
        _bn3 = (nn.Module<Tensor, Tensor>)bn3;
        register_module(n3, bn3);
        if (downsample is not null)
        {
            _downsample = downsample;
            register_module("downsample", downsample);
        }
        _afterConv1 = BlockPlugin.Build(this, plugins, PluginPosition.AfterConv1, w, (n, m) => register_module(n, m));
        _afterConv2 = BlockPlugin.Build(this, plugins, PluginPosition.AfterConv2, w, (n, m) => register_module(n, m));
        _afterConv3 = BlockPlugin.Build(this, plugins, PluginPosition.AfterConv3, planes * expansion, (n, m) => register_module(n, m));
    }

    /// <summary>
    /// ResNeXt's bottleneck width: planes with one group, else floor(planes · base_width / base_channels) · groups,
    /// computed in MMDetection's order (the ratio first, in double precision) so it floors alike.
    /// </summary>
    public static long Width(long planes, int groups, int baseWidth, int baseChannels) =>
        groups == 1 ? planes : (long)Math.Floor(planes * ((double)baseWidth / baseChannels)) * groups;

    /// <summary>The last norm layer (zero-initialised when <c>zero_init_residual</c>).</summary>
    public nn.Module LastNorm => _bn3;

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var identity = _downsample is null ? x : _downsample.forward(x);
        var o = BlockPlugin.Forward(_afterConv1, nn.functional.relu(_bn1.forward(_conv1.forward(x))));
        o = BlockPlugin.Forward(_afterConv2, nn.functional.relu(_bn2.forward(_conv2.forward(o))));
        o = BlockPlugin.Forward(_afterConv3, _bn3.forward(_conv3.forward(o)));
        return nn.functional.relu(o + identity).MoveToOuterDisposeScope();
    }

    public IReadOnlyList<string> ExportOnnx(OnnxExportContext ctx, IReadOnlyList<string> inputs)
    {
        string x = inputs[0];
        string identity = _downsample is null ? x : ctx.Forward(_downsample, x);
        var o = ExportPlugins(ctx, _afterConv1, ctx.Relu(ctx.Forward(_bn1, ctx.Forward(_conv1, x)), ctx.ValueName(this, "relu1")));
        o = ExportPlugins(ctx, _afterConv2, ctx.Relu(ctx.Forward(_bn2, ctx.Forward(_conv2, o)), ctx.ValueName(this, "relu2")));
        o = ExportPlugins(ctx, _afterConv3, ctx.Forward(_bn3, ctx.Forward(_conv3, o)));
        return [ctx.Relu(ctx.Add(o, identity, ctx.ValueName(this, "add")), ctx.ValueName(this))];
    }

    // BlockPlugin.Forward's plugins one after the other; a plugin without an export is refused by ctx.Forward, naming it.
    private static string ExportPlugins(OnnxExportContext ctx, nn.Module<Tensor, Tensor>[] plugins, string x) =>
        plugins.Aggregate(x, (h, p) => ctx.Forward(p, h));
}

using System.Globalization;
using DetSharp.Config;
using DetSharp.Models.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Backbones;

/// <summary>What one block of a stage is built from (mmdet's <c>block(inplanes, planes, stride, dilation, downsample, ...)</c>).</summary>
/// <param name="Index">The block's position in its stage (Res2Net's first block is its 'stage' type).</param>
/// <param name="ConvCfg">The backbone's <c>conv_cfg</c> (e.g. ConvWS) for every plain convolution; null: Conv2d.</param>
/// <param name="Dcn">The backbone's <c>dcn</c> dict where <c>stage_with_dcn</c> puts it on this stage, else null.</param>
/// <param name="Plugins">The backbone's <c>plugins</c> that apply to this stage (empty: none).</param>
public readonly record struct ResBlockArgs(
    long Inplanes, long Planes, int Stride, int Dilation, nn.Module<Tensor, Tensor>? Downsample, ResNetStyle Style, ConfigDict NormCfg, int Index,
    ConfigDict? Dcn = null, ConfigDict? ConvCfg = null, IReadOnlyList<BlockPlugin>? Plugins = null);

/// <summary>
/// MMDetection's <c>ResLayer</c> (and Res2Net's <c>Res2Layer</c>, which is it with <c>avg_down</c> always on): one stage
/// of <c>num_blocks</c> residual blocks, the first taking the stride and, when the stride or the channels change, a
/// <c>downsample</c> shortcut: a strided 1×1 conv + norm (keys <c>0</c>, <c>1</c>), or with <c>avg_down</c> an
/// AvgPool2d(stride, ceil_mode, count_include_pad=False) before an unstrided 1×1 conv + norm (keys <c>1</c>, <c>2</c>).
/// </summary>
public static class ResLayer
{
    public static TorchSharp.Modules.Sequential Build(long inplanes, long planes, int expansion, int numBlocks, int stride, int dilation, bool avgDown,
        ResNetStyle style, ConfigDict normCfg, Func<ResBlockArgs, nn.Module<Tensor, Tensor>> block, ConfigDict? dcn = null,
        ConfigDict? convCfg = null, IReadOnlyList<BlockPlugin>? plugins = null)
    {
        var blocks = new List<(string, nn.Module<Tensor, Tensor>)>();
        long outplanes = planes * expansion;
        for (int b = 0; b < numBlocks; b++)
        {
            nn.Module<Tensor, Tensor>? downsample = null;
            if (b == 0 && (stride != 1 || inplanes != outplanes))
                downsample = Downsample(inplanes, outplanes, stride, avgDown, normCfg, convCfg);
            blocks.Add((b.ToString(CultureInfo.InvariantCulture),
                block(new ResBlockArgs(inplanes, planes, b == 0 ? stride : 1, dilation, downsample, style, normCfg, b, dcn, convCfg, plugins))));
            inplanes = outplanes;
        }
        return nn.Sequential(blocks.ToArray());
    }

    private static nn.Module<Tensor, Tensor> Downsample(long inplanes, long outplanes, int stride, bool avgDown, ConfigDict normCfg, ConfigDict? convCfg)
    {
        var (_, norm) = NormLayers.Build(normCfg, outplanes);
        if (avgDown)
        {
            return nn.Sequential(
                ("0", nn.AvgPool2d(stride, stride, ceil_mode: true, count_include_pad: false)),
                ("1", ConvLayers.Build(convCfg, inplanes, outplanes, 1, bias: false)),
                ("2", (nn.Module<Tensor, Tensor>)norm));
        }
        return nn.Sequential(("0", ConvLayers.Build(convCfg, inplanes, outplanes, 1, stride, bias: false)), ("1", (nn.Module<Tensor, Tensor>)norm));
    }
}

using DetSharp.Config;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Backbones;

/// <summary>The residual block of an HRNet stage: <c>block='BASIC'</c> (<see cref="BasicBlock"/>) or 'BOTTLENECK' (<see cref="Bottleneck"/>).</summary>
public enum HRNetBlock
{
    Basic,
    Bottleneck,
}

/// <summary>MMDetection's <c>blocks_dict</c> and the residual layer HRNet makes of them (its <c>_make_layer</c> and <c>HRModule._make_one_branch</c>, which build the same thing).</summary>
public static class HRNetBlocks
{
    /// <summary>The <c>block</c> string of a stage dict; <paramref name="key"/> names it in the error.</summary>
    public static HRNetBlock Parse(string name, string key) => name switch
    {
        "BASIC" => HRNetBlock.Basic,
        "BOTTLENECK" => HRNetBlock.Bottleneck,
        _ => throw new DetSharpException($"HRNet: {key} is '{name}'; use 'BASIC' or 'BOTTLENECK'."),
    };

    public static int Expansion(this HRNetBlock block) => block == HRNetBlock.Basic ? BasicBlock.Expansion : Bottleneck.Expansion;

    /// <summary>
    /// <paramref name="blocks"/> blocks of <paramref name="planes"/> as a Sequential (keys <c>0..n-1</c>); the first gets a
    /// <c>downsample</c> (1×1 conv + norm) when the stride or the channels change.
    /// </summary>
    public static nn.Module<Tensor, Tensor> MakeLayer(HRNetBlock block, long inplanes, long planes, int blocks, ConfigDict normCfg, long stride = 1)
    {
        long outplanes = planes * block.Expansion();
        nn.Module<Tensor, Tensor>? downsample = null;
        if (stride != 1 || inplanes != outplanes)
        {
            var (_, norm) = Common.NormLayers.Build(normCfg, outplanes);
            downsample = nn.Sequential(("0", nn.Conv2d(inplanes, outplanes, 1, stride: stride, bias: false)), ("1", (nn.Module<Tensor, Tensor>)norm));
        }
        var layers = new List<(string, nn.Module<Tensor, Tensor>)>();
        for (int b = 0; b < blocks; b++)
        {
            long cin = b == 0 ? inplanes : outplanes;
            long s = b == 0 ? stride : 1;
            var ds = b == 0 ? downsample : null;
            nn.Module<Tensor, Tensor> m = block == HRNetBlock.Basic
                ? new BasicBlock(cin, planes, s, 1, ds, normCfg)
                : new Bottleneck(cin, planes, s, 1, ds, ResNetStyle.Pytorch, normCfg);
            layers.Add((b.ToString(System.Globalization.CultureInfo.InvariantCulture), m));
        }
        return nn.Sequential(layers.ToArray());
    }
}

using DetSharp.Config;
using DetSharp.Models.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Backbones;

/// <summary>
/// ResNeSt's <c>SplitAttentionConv2d</c>: <c>conv</c> (groups · radix groups) to channels · radix, <c>bn0</c>, ReLU; the
/// radix splits are summed, global-average-pooled and go through <c>fc1</c> (1×1, groups, to
/// max(in_channels · radix / reduction_factor, 32)), <c>bn1</c>, ReLU and <c>fc2</c> (1×1, groups, to channels · radix);
/// the attention is a softmax over the radix splits of each group (a sigmoid when radix is 1), and the output the
/// attention-weighted sum of the splits.
/// </summary>
public sealed class SplitAttentionConv2d : nn.Module<Tensor, Tensor>
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly nn.Module<Tensor, Tensor> _conv, _norm0, _fc1, _norm1, _fc2;
    private readonly int _radix;
    private readonly long _groups;

    public SplitAttentionConv2d(long inChannels, long channels, long kernelSize, long stride, long padding, long dilation, long groups, int radix,
        int reductionFactor, ConfigDict normCfg)
        : base(nameof(SplitAttentionConv2d))
    {
        if (radix < 1 || reductionFactor < 1)
            throw new DetSharpException($"ResNeSt: radix and reduction_factor must be positive, got {radix} and {reductionFactor}.");
        _radix = radix;
        _groups = groups;
        long interChannels = Math.Max(inChannels * radix / reductionFactor, 32);
        _conv = nn.Conv2d(inChannels, channels * radix, kernelSize, stride: stride, padding: padding, dilation: dilation, groups: groups * radix, bias: false);
        register_module("conv", _conv);
        var (n0, norm0) = NormLayers.Build(normCfg, channels * radix, "0");
        _norm0 = (nn.Module<Tensor, Tensor>)norm0;
        register_module(n0, norm0);
        _fc1 = nn.Conv2d(channels, interChannels, 1, groups: groups);
        register_module("fc1", _fc1);
        var (n1, norm1) = NormLayers.Build(normCfg, interChannels, "1");
        _norm1 = (nn.Module<Tensor, Tensor>)norm1;
        register_module(n1, norm1);
        _fc2 = nn.Conv2d(interChannels, channels * radix, 1, groups: groups);
        register_module("fc2", _fc2);
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        x = nn.functional.relu(_norm0.forward(_conv.forward(x)));
        long batch = x.shape[0];
        Tensor? splits = null;
        Tensor gap;
        if (_radix > 1)
        {
            splits = x.view([batch, _radix, -1, .. x.shape[2..]]);
            gap = splits.sum(1);
        }
        else
        {
            gap = x;
        }
        gap = nn.functional.adaptive_avg_pool2d(gap, 1);
        gap = nn.functional.relu(_norm1.forward(_fc1.forward(gap)));
        var atten = _fc2.forward(gap);
        // rSoftMax: softmax across the radix splits of each group (channels are laid out group-major, radix-minor).
        atten = _radix > 1
            ? atten.view(batch, _groups, _radix, -1).transpose(1, 2).softmax(1).reshape(batch, -1)
            : atten.sigmoid();
        atten = atten.view(batch, -1, 1, 1);
        var o = _radix > 1 ? (atten.view([batch, _radix, -1, .. atten.shape[2..]]) * splits!).sum(1) : atten * x;
        return o.contiguous().MoveToOuterDisposeScope();
    }
}

using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Common;

/// <summary>
/// mmcv's <c>ContextBlock</c> (GCNet, abbreviation <c>context_block</c>): a global context — attention pooling
/// (<c>conv_mask</c>, softmax over positions) or average pooling — transformed by a bottleneck of 1×1 conv, LayerNorm,
/// ReLU, 1×1 conv (<c>int(in_channels · ratio)</c> channels) and added to (<c>channel_add</c>) and/or, through a sigmoid,
/// multiplied with (<c>channel_mul</c>) every position. Init as mmcv: <c>conv_mask</c> Kaiming (fan_in), the last conv
/// of each transform zero, so that the block starts as the identity.
/// </summary>
[Register(Registries.PluginLayersName, "ContextBlock")]
public sealed class ContextBlock : nn.Module<Tensor, Tensor>, IPluginLayer
{
    /// <summary>Submodules are registered explicitly under mmcv's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly nn.Module<Tensor, Tensor>? _convMask, _channelAdd, _channelMul;

    /// <param name="inChannels">Channels of the input (given by the block the plugin sits in).</param>
    /// <param name="ratio">The transform's channels over the input's.</param>
    /// <param name="poolingType">'att' (attention pooling) or 'avg'.</param>
    /// <param name="fusionTypes">One or both of 'channel_add', 'channel_mul'.</param>
    public ContextBlock(long inChannels, double ratio, string poolingType = "att", string[]? fusionTypes = null)
        : base(nameof(ContextBlock))
    {
        fusionTypes ??= ["channel_add"];
        if (poolingType is not ("att" or "avg"))
            throw new DetSharpException($"ContextBlock: pooling_type must be 'att' or 'avg', got '{poolingType}'.");
        if (fusionTypes.Length == 0 || fusionTypes.Any(f => f is not ("channel_add" or "channel_mul")))
            throw new DetSharpException($"ContextBlock: fusion_types must be one or both of 'channel_add', 'channel_mul', got ({string.Join(", ", fusionTypes)}).");
        // Python's int(in_channels * ratio): truncation of the double product.
        long planes = (long)(inChannels * ratio);
        if (planes < 1)
            throw new DetSharpException($"ContextBlock: ratio {ratio} leaves no channel of {inChannels}; raise 'ratio'.");
        if (poolingType == "att")
        {
            _convMask = nn.Conv2d(inChannels, 1, 1);
            register_module("conv_mask", _convMask);
            ModuleTools.KaimingInit(_convMask, mode: "fan_in");
        }
        if (fusionTypes.Contains("channel_add"))
        {
            _channelAdd = Transform(inChannels, planes);
            register_module("channel_add_conv", _channelAdd);
        }
        if (fusionTypes.Contains("channel_mul"))
        {
            _channelMul = Transform(inChannels, planes);
            register_module("channel_mul_conv", _channelMul);
        }
    }

    public string Abbreviation => "context_block";

    /// <summary>conv 1×1 → LayerNorm([planes, 1, 1]) → ReLU → conv 1×1 (keys 0, 1, 3), the last conv zero.</summary>
    private static TorchSharp.Modules.Sequential Transform(long inChannels, long planes)
    {
        var last = nn.Conv2d(planes, inChannels, 1);
        ModuleTools.ConstantInit(last, 0);
        return nn.Sequential(("0", nn.Conv2d(inChannels, planes, 1)), ("1", nn.LayerNorm([planes, 1, 1])), ("2", nn.ReLU()), ("3", last));
    }

    private Tensor SpatialPool(Tensor x)
    {
        if (_convMask is null) return nn.functional.adaptive_avg_pool2d(x, 1);
        long batch = x.shape[0], channels = x.shape[1], hw = x.shape[2] * x.shape[3];
        var input = x.view(batch, channels, hw).unsqueeze(1);
        var mask = _convMask.forward(x).view(batch, 1, hw).softmax(2).unsqueeze(-1);
        return matmul(input, mask).view(batch, channels, 1, 1);
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var context = SpatialPool(x);
        var output = x;
        if (_channelMul is not null) output = output * sigmoid(_channelMul.forward(context));
        if (_channelAdd is not null) output = output + _channelAdd.forward(context);
        return output.MoveToOuterDisposeScope();
    }
}

using DetSharp.Models.Common;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.RoIHeads;

/// <summary>
/// MMDetection's <c>HTCMaskHead</c>: an <see cref="FCNMaskHead"/> whose stage can take the previous stage's mask
/// features (HTC's mask information flow): with <c>with_conv_res</c> a 1×1 ConvModule <c>conv_res</c> transforms them
/// and they are added to the RoI features before the convs; the convs' output is the feature handed to the next stage.
/// </summary>
[Register(Registries.ModelsName, "HTCMaskHead")]
public sealed class HTCMaskHead : FCNMaskHead
{
    private readonly ConvModule? _convRes;

    public HTCMaskHead([InheritedArguments] FCNMaskHeadArguments args, bool withConvRes = true)
        : base(nameof(HTCMaskHead), args)
    {
        WithConvRes = withConvRes;
        if (withConvRes)
        {
            _convRes = new ConvModule(ConvOutChannels, ConvOutChannels, 1, normCfg: NormCfg, convCfg: ConvCfg);
            register_module("conv_res", _convRes);
        }
    }

    public bool WithConvRes { get; }

    /// <summary>
    /// <c>forward(x, res_feat, return_logits)</c>: the mask logits (null when <paramref name="returnLogits"/> is false)
    /// and the features for the next stage; <paramref name="resFeat"/> is the previous stage's, or null for the first.
    /// </summary>
    public (Tensor? Logits, Tensor Feat) Forward(Tensor x, Tensor? resFeat, bool returnLogits = true)
    {
        using var scope = NewDisposeScope();
        if (resFeat is not null)
        {
            if (_convRes is null) throw new DetSharpException("HTCMaskHead: a previous stage's mask features need with_conv_res=True (mask_info_flow).");
            x = x + _convRes.forward(resFeat);
        }
        var feat = ForwardConvs(x);
        var logits = returnLogits ? ForwardLogits(feat) : null;
        return (logits?.MoveToOuterDisposeScope(), feat.MoveToOuterDisposeScope());
    }
}

using DetSharp.Config;
using DetSharp.Models.Backbones;
using DetSharp.Models.Common;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.RoIHeads;

/// <summary>
/// MMDetection's shared head <c>ResLayer</c> (the C4 models' <c>roi_head.shared_head</c>): the ResNet stage
/// <c>stage</c> (0-based; 3 = res5) of a <c>depth</c> ResNet run on the pooled RoI features, registered as
/// <c>layer{stage+1}</c> so that an ImageNet ResNet checkpoint fills it. Its BatchNorms stay in eval with
/// <c>norm_eval</c>. <c>pretrained</c> (the RoI head's) becomes a 'Pretrained' <c>init_cfg</c>, as in MMDetection.
/// </summary>
[Register(Registries.ModelsName, "ResLayer")]
public sealed class ResLayerSharedHead : nn.Module<Tensor, Tensor>, Weights.IHasInitCfg
{
    private readonly nn.Module<Tensor, Tensor> _layer;
    private readonly bool _normEval;

    public ResLayerSharedHead(int depth, int stage = 3, int stride = 2, int dilation = 1, ResNetStyle style = ResNetStyle.Pytorch,
        ConfigDict? normCfg = null, bool normEval = true, bool withCp = false, ConfigDict? dcn = null, string? pretrained = null, object? initCfg = null)
        : base("ResLayer")
    {
        if (depth is not (50 or 101 or 152))
            throw new DetSharpException($"ResLayer (shared head): depth {depth} is not supported; use 50, 101 or 152 (Bottleneck ResNets).");
        var blocks = ResNet.StageBlocksOf(depth);
        if (stage < 0 || stage >= blocks.Length)
            throw new DetSharpException($"ResLayer (shared head): stage must be 0..{blocks.Length - 1}, got {stage}.");
        if (initCfg is not null && pretrained is not null)
            throw new DetSharpException("ResLayer (shared head): init_cfg and pretrained cannot be given together.");
        _ = withCp; // gradient checkpointing saves memory only; the result is the same
        _normEval = normEval;
        normCfg ??= NormLayers.DefaultBn();
        long planes = 64L << stage;
        long inplanes = (64L << (stage - 1)) * Bottleneck.Expansion;
        _layer = ResLayer.Build(inplanes, planes, Bottleneck.Expansion, blocks[stage], stride, dilation, avgDown: false, style, normCfg,
            b => new Bottleneck(b.Inplanes, b.Planes, b.Stride, b.Dilation, b.Downsample, b.Style, b.NormCfg, dcn: dcn));
        register_module($"layer{stage + 1}", _layer);
        foreach (var (_, m) in named_modules())
        {
            if (ConvLayers.IsPlainConv(m)) ModuleTools.KaimingInit(m);
            else if (NormLayers.IsBatchNorm(m) || m is TorchSharp.Modules.GroupNorm) ModuleTools.ConstantInit(m, 1);
        }
        InitCfg = pretrained is null ? initCfg : new ConfigDict { ["type"] = "Pretrained", ["checkpoint"] = pretrained };
    }

    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    /// <summary>The <c>init_cfg</c> (a 'Pretrained' one from <c>pretrained</c>), applied by <see cref="Weights.PretrainedInit.InitWeights"/>.</summary>
    public object? InitCfg { get; }

    /// <summary>The stage on pooled RoI features [K, C, s, s] (C = the previous stage's channels; stride 2 halves s).</summary>
    public override Tensor forward(Tensor x) => _layer.forward(x);

    /// <summary>Train mode, with every BatchNorm kept in eval under <c>norm_eval</c>.</summary>
    public override void train(bool train = true)
    {
        base.train(train);
        if (train && _normEval) NormLayers.EvalBatchNorms(this);
    }
}

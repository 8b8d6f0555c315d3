using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Models.Losses;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.RoIHeads;

/// <summary>
/// MMDetection's <c>FusedSemanticHead</c> (HTC's semantic segmentation branch): every input level through a 1×1
/// ConvModule (<c>lateral_convs.i</c>), resized (bilinear, align_corners) to level <c>fusion_level</c> and summed;
/// <c>num_convs</c> 3×3 ConvModules; then 1×1 <c>conv_logits</c> (the stuff/thing logits, <c>num_classes</c>) and
/// 1×1 <c>conv_embedding</c> (the semantic features the RoI head pools). Loss: <c>loss_seg</c> on the labels at the
/// fused resolution; the deprecated <c>ignore_label</c> / <c>loss_weight</c> override its <c>ignore_index</c> /
/// <c>loss_weight</c> as in MMDetection.
/// </summary>
[Register(Registries.ModelsName, "FusedSemanticHead")]
public sealed class FusedSemanticHead : nn.Module, Weights.IHasInitCfg
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly ConvModule[] _lateralConvs;
    private readonly ConvModule[] _convs;
    private readonly ConvModule _convEmbedding;
    private readonly TorchSharp.Modules.Conv2d _convLogits;

    public FusedSemanticHead(int numIns, int fusionLevel, int numConvs = 4, int inChannels = 256, int convOutChannels = 256, int numClasses = 183,
        ConfigDict? convCfg = null, ConfigDict? normCfg = null, int? ignoreLabel = null, double? lossWeight = null, ConfigDict? lossSeg = null,
        object? initCfg = null)
        : base(nameof(FusedSemanticHead))
    {
        if (fusionLevel < 0 || fusionLevel >= numIns)
            throw new DetSharpException($"FusedSemanticHead: fusion_level {fusionLevel} is not one of the {numIns} inputs (num_ins).");
        InitCfg = initCfg;
        NumIns = numIns;
        FusionLevel = fusionLevel;
        NumClasses = numClasses;
        _lateralConvs = Enumerable.Range(0, numIns).Select(_ => new ConvModule(inChannels, inChannels, 1, normCfg: normCfg, convCfg: convCfg)).ToArray();
        register_module("lateral_convs", nn.ModuleList(_lateralConvs));
        _convs = Enumerable.Range(0, numConvs)
            .Select(i => new ConvModule(i == 0 ? inChannels : convOutChannels, convOutChannels, 3, padding: 1, normCfg: normCfg, convCfg: convCfg)).ToArray();
        register_module("convs", nn.ModuleList(_convs));
        _convEmbedding = new ConvModule(convOutChannels, convOutChannels, 1, normCfg: normCfg, convCfg: convCfg);
        register_module("conv_embedding", _convEmbedding);
        _convLogits = nn.Conv2d(convOutChannels, numClasses, 1);
        register_module("conv_logits", _convLogits);
        // MMDetection's default init_cfg: Kaiming on conv_logits (the ConvModules initialise themselves).
        ModuleTools.KaimingInit(_convLogits);
        var seg = lossSeg?.Clone() ?? new ConfigDict { ["type"] = "CrossEntropyLoss", ["ignore_index"] = 255L, ["loss_weight"] = 0.2 };
        // MMDetection tests truthiness: ignore_label=0 or loss_weight=0 leave loss_seg as it is.
        if (ignoreLabel is { } il && il != 0) seg["ignore_index"] = (long)il;
        if (lossWeight is { } lw && lw != 0) seg["loss_weight"] = lw;
        LossSeg = Builders.Loss(seg) as CrossEntropyLoss is { UseSigmoid: false, UseMask: false } ce
            ? ce
            : throw new DetSharpException("FusedSemanticHead: loss_seg must be a softmax CrossEntropyLoss (use_sigmoid=False).");
    }

    /// <summary>The <c>init_cfg</c> as given (applied by <see cref="Weights.PretrainedInit.InitWeights"/>).</summary>
    public object? InitCfg { get; }

    public int NumIns { get; }

    public int FusionLevel { get; }

    public int NumClasses { get; }

    public CrossEntropyLoss LossSeg { get; }

    /// <summary><c>forward(feats)</c>: the segmentation logits and the semantic features, both at the fusion level's size.</summary>
    public (Tensor MaskPred, Tensor SemanticFeat) Forward(IReadOnlyList<Tensor> feats)
    {
        if (feats.Count < NumIns) throw new DetSharpException($"FusedSemanticHead: num_ins is {NumIns} but the neck gives {feats.Count} maps.");
        using var scope = NewDisposeScope();
        var x = _lateralConvs[FusionLevel].forward(feats[FusionLevel]);
        long h = x.shape[2], w = x.shape[3];
        for (int i = 0; i < NumIns; i++)
        {
            if (i == FusionLevel) continue;
            var feat = nn.functional.interpolate(feats[i], size: [h, w], mode: InterpolationMode.Bilinear, align_corners: true);
            x = x + _lateralConvs[i].forward(feat);
        }
        foreach (var conv in _convs) x = conv.forward(x);
        var maskPred = _convLogits.forward(x);
        x = _convEmbedding.forward(x);
        return (maskPred.MoveToOuterDisposeScope(), x.MoveToOuterDisposeScope());
    }

    /// <summary><c>loss(mask_pred, labels)</c>: <c>loss_seg</c> of the logits against [N, 1, H, W] (or [N, H, W]) class labels.</summary>
    public Tensor Loss(Tensor maskPred, Tensor labels)
    {
        if (labels.dim() == 4) labels = labels.squeeze(1);
        return LossSeg.Forward(maskPred, labels.to_type(ScalarType.Int64));
    }
}

using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.DenseHeads;

/// <summary>
/// MMDetection's <c>RetinaSepBNHead</c> (NAS-FPN's RetinaNet head): RetinaHead's two towers of <c>stacked_convs</c> 3×3
/// ConvModules and its 3×3 <c>retina_cls</c> / <c>retina_reg</c>, but one tower pair per FPN level (<c>num_ins</c>)
/// whose convs are level 0's and whose norm layers are the level's own — the norms see each level's statistics while
/// the weights are shared. The state dict lists the shared conv under every level (<c>cls_convs.1.0.conv.weight</c> is
/// <c>cls_convs.0.0.conv.weight</c>), as PyTorch's does; <c>parameters()</c> gives it once, so the optimizer steps it once.
/// Anchors are AnchorHead's defaults (the configs set RetinaNet's octave anchors); the convs of level 0 and the
/// predictors are initialised N(0, 0.01), <c>retina_cls</c>'s bias to the focal-loss prior −log((1 − 0.01) / 0.01).
/// </summary>
[Register(Registries.ModelsName, "RetinaSepBNHead")]
public sealed class RetinaSepBNHead : AnchorHead
{
    private readonly ConvTower[] _clsConvs, _regConvs;
    private readonly TorchSharp.Modules.Conv2d _retinaCls, _retinaReg;

    public RetinaSepBNHead([InheritedArguments] AnchorHeadArguments args, int numIns, int stackedConvs = 4, ConfigDict? convCfg = null,
        ConfigDict? normCfg = null)
        : base(nameof(RetinaSepBNHead), args, args.NumClasses ?? throw new DetSharpException("RetinaSepBNHead: num_classes is required."), null)
    {
        // MMDetection asserts init_cfg is None: the head initialises itself (its shared convs once, from level 0).
        if (args.InitCfg is not null)
            throw new DetSharpException("RetinaSepBNHead: init_cfg must not be set (MMDetection refuses it: the head initialises its shared convs itself); remove it.");
        if (numIns < 1) throw new DetSharpException($"RetinaSepBNHead: num_ins={numIns} must be at least 1 (one per FPN level).");
        NumIns = numIns;
        StackedConvs = stackedConvs;
        _clsConvs = new ConvTower[numIns];
        _regConvs = new ConvTower[numIns];
        (_clsConvs[0], _regConvs[0]) = ConvTower.Interleaved(InChannels, FeatChannels, stackedConvs, normCfg, convCfg: convCfg);
        for (int i = 1; i < numIns; i++)
        {
            _clsConvs[i] = _clsConvs[0].SharingConvs(normCfg);
            _regConvs[i] = _regConvs[0].SharingConvs(normCfg);
        }
        register_module("cls_convs", nn.ModuleList(_clsConvs.Select(t => t.ToModuleList()).ToArray()));
        register_module("reg_convs", nn.ModuleList(_regConvs.Select(t => t.ToModuleList()).ToArray()));
        _retinaCls = nn.Conv2d(FeatChannels, NumBaseAnchors * ClsOutChannels, 3, padding: 1);
        _retinaReg = nn.Conv2d(FeatChannels, NumBaseAnchors * 4, 3, padding: 1);
        register_module("retina_cls", _retinaCls);
        register_module("retina_reg", _retinaReg);
        _clsConvs[0].NormalInit(0.01);
        _regConvs[0].NormalInit(0.01);
        ModuleTools.NormalInit(_retinaCls, 0, 0.01, bias: -Math.Log((1 - 0.01) / 0.01));
        ModuleTools.NormalInit(_retinaReg, 0, 0.01);
    }

    /// <summary>FPN levels the head takes, each with its own norm layers.</summary>
    public int NumIns { get; }

    public int StackedConvs { get; }

    protected override (Tensor ClsScore, Tensor BboxPred) ForwardSingle(Tensor x, int level)
    {
        if (level >= NumIns)
            throw new DetSharpException($"RetinaSepBNHead: got FPN level {level} but num_ins={NumIns}; set bbox_head.num_ins to the neck's number of outputs.");
        return (_retinaCls.forward(_clsConvs[level].Forward(x)), _retinaReg.forward(_regConvs[level].Forward(x)));
    }
}

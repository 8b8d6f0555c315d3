using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Models.Onnx;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.DenseHeads;

/// <summary>
/// MMDetection's <c>RetinaHead</c> (RetinaNet, Lin et al. 2017): an <see cref="AnchorHead"/> with
/// <c>stacked_convs</c> 3×3 ConvModules (ReLU; <c>conv_cfg</c>/<c>norm_cfg</c>) in each of two towers,
/// <c>cls_convs</c> and <c>reg_convs</c>, then 3×3 <c>retina_cls</c> (A·C) and <c>retina_reg</c> (A·4). Default anchors
/// are the octave anchors: <c>octave_base_scale=4</c>, <c>scales_per_octave=3</c>, ratios 0.5/1/2 on strides 8..128.
/// The convs are initialised N(0, 0.01) and <c>retina_cls</c>'s bias to −log((1 − 0.01) / 0.01), the focal-loss
/// prior that every anchor starts as background with probability 0.99.
/// </summary>
[Register(Registries.ModelsName, "RetinaHead")]
public class RetinaHead : AnchorHead
{
    private readonly ConvTower _clsConvs, _regConvs;
    private readonly TorchSharp.Modules.Conv2d _retinaCls, _retinaReg;

    public RetinaHead([InheritedArguments] AnchorHeadArguments args, int stackedConvs = 4, ConfigDict? convCfg = null, ConfigDict? normCfg = null)
        : this(nameof(RetinaHead), args, stackedConvs, convCfg, normCfg)
    {
    }

    /// <summary>The RetinaNet layers under the name of a head that changes only the losses (FreeAnchor, PISA).</summary>
    protected RetinaHead(string name, AnchorHeadArguments args, int stackedConvs, ConfigDict? convCfg, ConfigDict? normCfg)
        : base(name, args, args.NumClasses ?? throw new DetSharpException($"{name}: num_classes is required."), DefaultAnchors())
    {
        StackedConvs = stackedConvs;
        (_clsConvs, _regConvs) = ConvTower.Interleaved(InChannels, FeatChannels, stackedConvs, normCfg, convCfg: convCfg);
        _clsConvs.RegisterIn(register_module, "cls_convs", std: null);
        _regConvs.RegisterIn(register_module, "reg_convs", std: null);
        _retinaCls = nn.Conv2d(FeatChannels, NumBaseAnchors * ClsOutChannels, 3, padding: 1);
        _retinaReg = nn.Conv2d(FeatChannels, NumBaseAnchors * 4, 3, padding: 1);
        register_module("retina_cls", _retinaCls);
        register_module("retina_reg", _retinaReg);
        _clsConvs.NormalInit(0.01);
        _regConvs.NormalInit(0.01);
        ModuleTools.NormalInit(_retinaCls, 0, 0.01, bias: -Math.Log((1 - 0.01) / 0.01));
        ModuleTools.NormalInit(_retinaReg, 0, 0.01);
    }

    public int StackedConvs { get; }

    private static ConfigDict DefaultAnchors() => new()
    {
        ["type"] = "AnchorGenerator", ["octave_base_scale"] = 4L, ["scales_per_octave"] = 3L,
        ["ratios"] = new ConfigList([0.5, 1.0, 2.0]), ["strides"] = new ConfigList([8L, 16L, 32L, 64L, 128L]),
    };

    protected override (Tensor ClsScore, Tensor BboxPred) ForwardSingle(Tensor x)
    {
        return (_retinaCls.forward(_clsConvs.Forward(x)), _retinaReg.forward(_regConvs.Forward(x)));
    }

    protected override (string ClsScore, string BboxPred) ExportForwardSingle(OnnxExportContext ctx, string x)
    {
        ctx.RequireExportOf(this, nameof(ForwardSingle), nameof(ExportForwardSingle));
        return (ctx.Forward(_retinaCls, _clsConvs.Export(ctx, x)), ctx.Forward(_retinaReg, _regConvs.Export(ctx, x)));
    }
}

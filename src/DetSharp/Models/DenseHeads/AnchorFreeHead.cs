using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Models.Losses;
using DetSharp.Models.Onnx;
using DetSharp.Models.TaskModules;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.DenseHeads;

/// <summary>
/// AnchorFreeHead's constructor arguments under MMDetection's names; the point-based heads (FCOS, ...) take them as one
/// <see cref="InheritedArgumentsAttribute"/> parameter. Null sub-configs take the head's own defaults.
/// </summary>
public sealed record AnchorFreeHeadArguments(
    int NumClasses,
    int InChannels,
    int FeatChannels = 256,
    int StackedConvs = 4,
    int[]? Strides = null,
    bool DcnOnLastConv = false,
    object? ConvBias = null,
    ConfigDict? LossCls = null,
    ConfigDict? LossBbox = null,
    ConfigDict? BboxCoder = null,
    ConfigDict? ConvCfg = null,
    ConfigOptional<ConfigDict> NormCfg = default,
    ConfigDict? TrainCfg = null,
    ConfigDict? TestCfg = null,
    object? InitCfg = null);

/// <summary>
/// MMDetection's <c>AnchorFreeHead</c>, the base of the point-based heads: one prior point per position
/// (<see cref="MlvlPointGenerator"/> on <c>strides</c>), <c>stacked_convs</c> 3×3 ConvModules in a classification and a
/// regression tower (<c>cls_convs</c>, <c>reg_convs</c>; bias 'auto' = only without a norm layer), and 3×3
/// predictors <c>conv_cls</c> (C) and <c>conv_reg</c> (4 distances), initialised N(0, 0.01) with
/// <c>conv_cls</c>'s bias at the focal prior (p = 0.01). Test: per level the best <c>nms_pre</c> scores above
/// <c>score_thr</c> (times the score factors where the head has them), decoded from the points
/// (<see cref="DistancePointBBoxCoder"/> by default), class-aware NMS, <c>max_per_img</c>. Subclasses give the
/// training targets and losses.
/// </summary>
public abstract class AnchorFreeHead : BaseDenseHead
{
    private readonly ConvTower _clsConvs, _regConvs;
    private readonly TorchSharp.Modules.Conv2d _convCls, _convReg;

    protected AnchorFreeHead(string name, AnchorFreeHeadArguments args, ConfigDict defaultLossCls, ConfigDict defaultLossBbox, ConfigDict? defaultNormCfg)
        : base(name)
    {
        _numClasses = args.NumClasses;
        InChannels = args.InChannels;
        FeatChannels = args.FeatChannels;
        StackedConvs = args.StackedConvs;
        Strides = args.Strides ?? [4, 8, 16, 32, 64];
        InitCfg = args.InitCfg;
        TrainCfg = args.TrainCfg;
        TestCfg = args.TestCfg;
        var normCfg = args.NormCfg.Or(defaultNormCfg);
        bool convBias = ConvBias(name, args.ConvBias, normCfg);
        var lossCls = args.LossCls ?? defaultLossCls;
        LossCls = Builders.Loss(lossCls);
        LossBbox = Builders.Loss(args.LossBbox ?? defaultLossBbox);
        UseSigmoidCls = lossCls.Get("use_sigmoid", false);
        ClsOutChannels = UseSigmoidCls ? args.NumClasses : args.NumClasses + 1;
        BboxCoder = Builders.TaskModule<IBBoxCoder>(args.BboxCoder ?? new ConfigDict { ["type"] = "DistancePointBBoxCoder" });
        PriorGenerator = new MlvlPointGenerator(new ConfigList(Strides.Select(s => (object?)(long)s)));
        (_clsConvs, _regConvs) = ConvTower.Interleaved(InChannels, FeatChannels, StackedConvs, normCfg, convBias, args.ConvCfg, args.DcnOnLastConv);
        _clsConvs.RegisterIn(register_module, "cls_convs", std: null);
        _regConvs.RegisterIn(register_module, "reg_convs", std: null);
        _convCls = nn.Conv2d(FeatChannels, ClsOutChannels, 3, padding: 1);
        _convReg = nn.Conv2d(FeatChannels, 4, 3, padding: 1);
        register_module("conv_cls", _convCls);
        register_module("conv_reg", _convReg);
        _clsConvs.NormalInit(0.01);
        _regConvs.NormalInit(0.01);
        ModuleTools.NormalInit(_convCls, 0, 0.01, bias: -Math.Log((1 - 0.01) / 0.01));
        ModuleTools.NormalInit(_convReg, 0, 0.01);
    }

    /// <summary><c>conv_bias</c> of the towers: 'auto' (or absent) = a bias only without a norm layer, else the bool given.</summary>
    internal static bool ConvBias(string head, object? convBias, ConfigDict? normCfg) => convBias switch
    {
        null or "auto" => normCfg is null,
        bool b => b,
        _ => throw new DetSharpException($"{head}: conv_bias must be 'auto', True or False, got {ConfigValue.Describe(convBias)}."),
    };

    private readonly int _numClasses;

    public override int NumClasses => _numClasses;

    public int InChannels { get; }

    public int FeatChannels { get; }

    public int StackedConvs { get; }

    public int[] Strides { get; }

    public override int ClsOutChannels { get; }

    public override bool UseSigmoidCls { get; }

    public MlvlPointGenerator PriorGenerator { get; }

    public override IBBoxCoder BboxCoder { get; }

    public LossBase LossCls { get; }

    public LossBase LossBbox { get; }

    protected ConfigDict? TrainCfg { get; }

    protected override ConfigDict? TestCfg { get; }

    /// <summary><c>forward_single</c> of the towers and predictors: logits, regression, and both towers' features.</summary>
    protected (Tensor ClsScore, Tensor BboxPred, Tensor ClsFeat, Tensor RegFeat) ForwardTowers(Tensor x)
    {
        var clsFeat = _clsConvs.Forward(x);
        var regFeat = _regConvs.Forward(x);
        return (_convCls.forward(clsFeat), _convReg.forward(regFeat), clsFeat, regFeat);
    }

    /// <summary><see cref="ForwardTowers"/> as ONNX nodes.</summary>
    protected (string ClsScore, string BboxPred, string ClsFeat, string RegFeat) ExportTowers(OnnxExportContext ctx, string x)
    {
        string clsFeat = _clsConvs.Export(ctx, x), regFeat = _regConvs.Export(ctx, x);
        return (ctx.Forward(_convCls, clsFeat), ctx.Forward(_convReg, regFeat), clsFeat, regFeat);
    }

    protected override Tensor[] GridPriors(IReadOnlyList<(long H, long W)> featmapSizes, Device device) => PriorGenerator.GridPriors(featmapSizes, device);

    protected override string ExportGridPriors(OnnxExportContext ctx, string featmap, int level, string name) =>
        PriorGenerator.ExportGridPriors(ctx, featmap, level, name);

    /// <summary><c>aug_test</c>: <see cref="BaseDenseHead.AugTestBboxes"/>, as MMDetection's AnchorFreeHead.</summary>
    public override DenseDetections AugTest(IReadOnlyList<Tensor[]> feats, IReadOnlyList<ImgMeta> augMetas, bool rescale) =>
        AugTestBboxes(feats, augMetas, rescale);
}

using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Models.Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.DenseHeads;

/// <summary>
/// The stack of <c>stacked_convs</c> 3×3 ConvModules (ReLU; <c>norm_cfg</c>; bias 'auto' unless told) that MMDetection's
/// dense heads put before their predictors, once for classification (<c>cls_convs</c>) and once for regression
/// (<c>reg_convs</c>). One class so that every head registers the same state-dict keys (<c>cls_convs.N.conv.weight</c>)
/// and initialises them the same way (N(0, 0.01) in RetinaHead, AnchorFreeHead, ATSSHead, ...).
/// </summary>
public sealed class ConvTower
{
    private readonly ConvModule[] _convs;

    /// <param name="dcnOnLastConv">The last conv is a DCNv2 (<c>dcn_on_last_conv</c> of the anchor-free heads).</param>
    public ConvTower(int inChannels, int featChannels, int stackedConvs, ConfigDict? normCfg, bool? bias = null, ConfigDict? convCfg = null,
        bool dcnOnLastConv = false)
    {
        _convs = new ConvModule[stackedConvs];
        for (int i = 0; i < stackedConvs; i++) _convs[i] = Layer(i, inChannels, featChannels, stackedConvs, normCfg, bias, convCfg, dcnOnLastConv);
    }

    private ConvTower(ConvModule[] convs) => _convs = convs;

    /// <summary>
    /// The classification and regression towers built layer by layer in turn (cls 0, reg 0, cls 1, ...), without
    /// initialising them: the order of random draws RetinaHead and AnchorFreeHead have always made (their convs, then
    /// their predictors, then <see cref="NormalInit"/>), on which the e2e learning thresholds were calibrated.
    /// </summary>
    public static (ConvTower Cls, ConvTower Reg) Interleaved(int inChannels, int featChannels, int stackedConvs, ConfigDict? normCfg,
        bool? bias = null, ConfigDict? convCfg = null, bool dcnOnLastConv = false)
    {
        var cls = new ConvModule[stackedConvs];
        var reg = new ConvModule[stackedConvs];
        for (int i = 0; i < stackedConvs; i++)
        {
            cls[i] = Layer(i, inChannels, featChannels, stackedConvs, normCfg, bias, convCfg, dcnOnLastConv);
            reg[i] = Layer(i, inChannels, featChannels, stackedConvs, normCfg, bias, convCfg, dcnOnLastConv);
        }
        return (new ConvTower(cls), new ConvTower(reg));
    }

    private static ConvModule Layer(int i, int inChannels, int featChannels, int stackedConvs, ConfigDict? normCfg, bool? bias, ConfigDict? convCfg,
        bool dcnOnLastConv)
    {
        var cfg = dcnOnLastConv && i == stackedConvs - 1 ? new ConfigDict { ["type"] = "DCNv2" } : convCfg;
        return new ConvModule(i == 0 ? inChannels : featChannels, featChannels, 3, padding: 1, normCfg: normCfg, withRelu: true, bias: bias, convCfg: cfg);
    }

    /// <summary>
    /// A tower of the same convs (<see cref="ConvModule.SharingConv"/>) with norm layers of its own: RetinaSepBNHead's
    /// towers of the FPN levels after the first.
    /// </summary>
    public ConvTower SharingConvs(ConfigDict? normCfg) => new(_convs.Select(c => c.SharingConv(normCfg)).ToArray());

    /// <summary>
    /// Registers the tower under <paramref name="name"/> (e.g. <c>cls_convs</c>) and, unless <paramref name="std"/> is
    /// null, initialises it (<see cref="NormalInit"/>).
    /// </summary>
    public ConvTower RegisterIn(Action<string, nn.Module> registerModule, string name, double? std = 0.01)
    {
        registerModule(name, ToModuleList());
        if (std is double s) NormalInit(s);
        return this;
    }

    /// <summary>The ConvModules as one ModuleList (keys <c>N.conv.weight</c> under the list's name).</summary>
    public nn.Module ToModuleList() => nn.ModuleList(_convs);

    /// <summary>
    /// N(0, std) for the plain convs: mmcv's <c>Normal(layer='Conv2d')</c> leaves a deformable conv's own init alone.
    /// </summary>
    public void NormalInit(double std)
    {
        foreach (var c in _convs)
            if (ConvLayers.IsPlainConv(c.Conv)) ModuleTools.NormalInit(c.Conv, 0, std);
    }

    public Tensor Forward(Tensor x)
    {
        foreach (var c in _convs) x = c.forward(x);
        return x;
    }

    /// <summary><see cref="Forward"/> as ONNX nodes.</summary>
    public string Export(OnnxExportContext ctx, string x) => _convs.Aggregate(x, (h, c) => ctx.Forward(c, h));
}

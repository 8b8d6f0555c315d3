using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Necks;

/// <summary>
/// MMDetection's <c>NASFPN</c> (Ghiasi et al. 2019): 1×1 <c>lateral_convs</c> (no activation), extra levels made by a
/// 1×1 ConvModule and 2×2 max pooling (<c>extra_downsamples.i.0</c> / <c>.1</c>), then <c>stack_times</c> identical
/// <c>fpn_stages</c> of the searched merge cells over exactly five levels P3–P7. Convs are initialised as mmcv's
/// Caffe2Xavier (MMDetection's default <c>init_cfg</c>). <c>add_extra_convs</c> is accepted and unused, as in MMDetection
/// (any value: the NAS-FPN configs inherit RetinaNet's <c>'on_input'</c>).
/// </summary>
[Register(Registries.ModelsName, "NASFPN")]
public sealed class NASFPN : nn.Module<Tensor[], Tensor[]>, Weights.IHasInitCfg
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly int _numIns;
    private readonly int _startLevel;
    private readonly List<ConvModule> _lateralConvs = [];
    private readonly List<nn.Module<Tensor, Tensor>> _extraDownsamples = [];
    private readonly List<NASFPNStage> _stages = [];

    public NASFPN(int[] inChannels, int outChannels, int numOuts, int stackTimes, int startLevel = 0, int endLevel = -1,
        object? addExtraConvs = null, ConfigDict? normCfg = null, object? initCfg = null)
        : base(nameof(NASFPN))
    {
        _ = addExtraConvs;
        InitCfg = initCfg;
        _numIns = inChannels.Length;
        _startLevel = startLevel;
        int backboneEndLevel = FPN.BackboneEndLevelOf("NASFPN", _numIns, startLevel, endLevel, numOuts);
        if (numOuts != 5)
            throw new DetSharpException($"NASFPN: its cells connect exactly five levels (P3-P7); num_outs is {numOuts}, set it to 5.");

        for (int i = startLevel; i < backboneEndLevel; i++)
            _lateralConvs.Add(new ConvModule(inChannels[i], outChannels, 1, normCfg: normCfg, withRelu: false));
        int extraLevels = numOuts - backboneEndLevel + startLevel;
        for (int i = 0; i < extraLevels; i++)
        {
            var conv = new ConvModule(outChannels, outChannels, 1, normCfg: normCfg, withRelu: false);
            _extraDownsamples.Add(nn.Sequential(("0", conv), ("1", nn.MaxPool2d(2, 2))));
        }
        for (int i = 0; i < stackTimes; i++) _stages.Add(new NASFPNStage(outChannels, normCfg));
        register_module("lateral_convs", nn.ModuleList(_lateralConvs.ToArray()));
        register_module("extra_downsamples", nn.ModuleList(_extraDownsamples.ToArray()));
        register_module("fpn_stages", nn.ModuleList(_stages.ToArray()));
        foreach (var (_, m) in named_modules())
            if (m is TorchSharp.Modules.Conv2d) ModuleTools.Caffe2XavierInit(m);
    }

    /// <summary>The <c>init_cfg</c> as given.</summary>
    public object? InitCfg { get; }

    public override Tensor[] forward(Tensor[] inputs)
    {
        if (inputs.Length != _numIns)
            throw new ArgumentException($"NASFPN expects {_numIns} input maps, got {inputs.Length}.");
        using var scope = NewDisposeScope();
        var feats = new List<Tensor>();
        for (int i = 0; i < _lateralConvs.Count; i++) feats.Add(_lateralConvs[i].forward(inputs[i + _startLevel]));
        foreach (var down in _extraDownsamples) feats.Add(down.forward(feats[^1]));
        var p = feats.ToArray();
        foreach (var stage in _stages) p = stage.Forward(p);
        foreach (var t in p) t.MoveToOuterDisposeScope();
        return p;
    }
}

/// <summary>
/// One NAS-FPN stage (an entry of MMDetection's <c>fpn_stages</c>, a ModuleDict): the nine merge cells of the searched
/// architecture, named <c>&lt;op&gt;_&lt;inputs&gt;_&lt;output&gt;</c> by the levels they join (gp_64_4 joins P6 and P4 into P4).
/// </summary>
internal sealed class NASFPNStage : nn.Module
{
    protected override void RegisterComponents()
    {
    }

    private readonly GlobalPoolingCell _gp64to4, _gp43to5, _gp54to7, _gp75to6;
    private readonly SumCell _sum44to4, _sum43to3, _sum34to4, _sum55to5, _sum77to7;

    public NASFPNStage(int channels, ConfigDict? normCfg)
        : base(nameof(NASFPNStage))
    {
        _gp64to4 = new GlobalPoolingCell(channels, channels, outNormCfg: normCfg);
        _sum44to4 = new SumCell(channels, channels, normCfg);
        _sum43to3 = new SumCell(channels, channels, normCfg);
        _sum34to4 = new SumCell(channels, channels, normCfg);
        _gp43to5 = new GlobalPoolingCell(withOutConv: false);
        _sum55to5 = new SumCell(channels, channels, normCfg);
        _gp54to7 = new GlobalPoolingCell(withOutConv: false);
        _sum77to7 = new SumCell(channels, channels, normCfg);
        _gp75to6 = new GlobalPoolingCell(channels, channels, outNormCfg: normCfg);
        register_module("gp_64_4", _gp64to4);
        register_module("sum_44_4", _sum44to4);
        register_module("sum_43_3", _sum43to3);
        register_module("sum_34_4", _sum34to4);
        register_module("gp_43_5", _gp43to5);
        register_module("sum_55_5", _sum55to5);
        register_module("gp_54_7", _gp54to7);
        register_module("sum_77_7", _sum77to7);
        register_module("gp_75_6", _gp75to6);
    }

    /// <summary>P3–P7 in, P3–P7 out.</summary>
    public Tensor[] Forward(Tensor[] p)
    {
        var (p3, p4, p5, p6, p7) = (p[0], p[1], p[2], p[3], p[4]);
        var p4Pooled = _gp64to4.Forward(p6, p4, Size(p4));
        var p4Summed = _sum44to4.Forward(p4Pooled, p4, Size(p4));
        p3 = _sum43to3.Forward(p4Summed, p3, Size(p3));
        p4 = _sum34to4.Forward(p3, p4Summed, Size(p4));
        var p5Tmp = _gp43to5.Forward(p4, p3, Size(p5));
        p5 = _sum55to5.Forward(p5, p5Tmp, Size(p5));
        var p7Tmp = _gp54to7.Forward(p5, p4Summed, Size(p7));
        p7 = _sum77to7.Forward(p7, p7Tmp, Size(p7));
        p6 = _gp75to6.Forward(p7, p5, Size(p6));
        return [p3, p4, p5, p6, p7];
    }

    private static (long, long) Size(Tensor x) => (x.shape[2], x.shape[3]);
}

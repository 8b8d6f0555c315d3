using DetSharp.Models.Common;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Necks;

/// <summary>
/// MMDetection's <c>PAFPN</c> (Path Aggregation Network, Liu et al. 2018): FPN's laterals, top-down sums and
/// <c>fpn_convs</c>, then a bottom-up path — each level adds the stride-2 3×3 <c>downsample_convs</c> of the level below
/// it — and 3×3 <c>pafpn_convs</c> on every level but the first; extra levels as FPN. Takes FPN's arguments except
/// <c>upsample_cfg</c> (its top-down pass is always nearest to the finer map's size). Convs are Xavier-uniform initialised.
/// </summary>
[Register(Registries.ModelsName, "PAFPN")]
public sealed class PAFPN : FPN
{
    private readonly List<ConvModule> _downsampleConvs = [];
    private readonly List<ConvModule> _pafpnConvs = [];

    public PAFPN([InheritedArguments] FPNArguments args)
        : base(nameof(PAFPN), args)
    {
        if (args.UpsampleCfg is not null)
            throw new DetSharpException("PAFPN: upsample_cfg is not an argument of PAFPN (its top-down pass is nearest upsampling); remove it from the neck dict.");
        var (withRelu, _) = ConvModule.Activation(args.ActCfg, nameof(PAFPN));
        for (int i = StartLevel + 1; i < BackboneEndLevel; i++)
        {
            _downsampleConvs.Add(new ConvModule(OutChannelsValue, OutChannelsValue, 3, stride: 2, padding: 1, normCfg: args.NormCfg,
                withRelu: withRelu, convCfg: args.ConvCfg));
            _pafpnConvs.Add(new ConvModule(OutChannelsValue, OutChannelsValue, 3, padding: 1, normCfg: args.NormCfg, withRelu: withRelu,
                convCfg: args.ConvCfg));
        }
        register_module("downsample_convs", nn.ModuleList(_downsampleConvs.ToArray()));
        register_module("pafpn_convs", nn.ModuleList(_pafpnConvs.ToArray()));
        foreach (var c in _downsampleConvs.Concat(_pafpnConvs)) ModuleTools.XavierUniformInit(c.Conv);
    }

    public override Tensor[] forward(Tensor[] inputs)
    {
        using var scope = NewDisposeScope();
        var laterals = Laterals(inputs);
        int used = laterals.Count;
        for (int i = used - 1; i > 0; i--)
            laterals[i - 1] = laterals[i - 1] + Upsample(laterals[i], laterals[i - 1]);
        var inter = new Tensor[used];
        for (int i = 0; i < used; i++) inter[i] = FpnConvs[i].forward(laterals[i]);
        // Bottom-up path: the sum feeds the next level's downsample (MMDetection adds in place, in this order).
        for (int i = 0; i < used - 1; i++)
            inter[i + 1] = inter[i + 1] + _downsampleConvs[i].forward(inter[i]);
        var outs = new List<Tensor> { inter[0] };
        for (int i = 1; i < used; i++) outs.Add(_pafpnConvs[i - 1].forward(inter[i]));
        AddExtraLevels(inputs, laterals, outs);
        foreach (var o in outs) o.MoveToOuterDisposeScope();
        return outs.ToArray();
    }
}

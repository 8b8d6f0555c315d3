using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Models.Weights;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Necks;

/// <summary>
/// MMDetection's <c>HRFPN</c> (High Resolution Feature Pyramids): every input branch i is upsampled bilinearly by 2^i
/// (align_corners False) to the finest resolution, the maps are concatenated and reduced by a 1×1
/// <c>reduction_conv</c> to <c>out_channels</c>; level k of the pyramid pools that map with kernel and stride 2^k
/// (<c>pooling_type</c> 'AVG' or 'MAX'), and each level goes through its own 3×3 <c>fpn_convs.k</c> (stride
/// <c>stride</c>). No activation, and — as in MMDetection, which stores <c>norm_cfg</c> but never passes it on — no norm
/// layer. Init as MMDetection's: <c>fpn_convs</c> Caffe2Xavier; <c>reduction_conv</c> keeps mmcv ConvModule's own
/// Kaiming (fan_out) init, which runs after the neck's init_cfg. <c>with_cp</c> only saves memory.
/// </summary>
[Register(Registries.ModelsName, "HRFPN")]
public sealed class HRFPN : nn.Module<Tensor[], Tensor[]>, IHasInitCfg
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly int[] _inChannels;
    private readonly int _numOuts;
    private readonly bool _maxPooling;
    private readonly ConvModule _reductionConv;
    private readonly List<ConvModule> _fpnConvs = [];

    public HRFPN(
        int[] inChannels,
        int outChannels,
        int numOuts = 5,
        string poolingType = "AVG",
        ConfigDict? convCfg = null,
        ConfigDict? normCfg = null,
        bool withCp = false,
        int stride = 1,
        object? initCfg = null)
        : base(nameof(HRFPN))
    {
        if (convCfg is not null) throw new DetSharpException("HRFPN: conv_cfg is not supported (only plain convolutions).");
        if (inChannels.Length == 0) throw new DetSharpException("HRFPN: in_channels must list the channels of each input branch.");
        if (numOuts < 1) throw new DetSharpException($"HRFPN: num_outs must be at least 1, got {numOuts}.");
        _maxPooling = poolingType switch
        {
            "MAX" => true,
            "AVG" => false,
            _ => throw new DetSharpException($"HRFPN: pooling_type is '{poolingType}'; use 'AVG' or 'MAX'."),
        };
        _ = normCfg; // stored and unused by MMDetection's HRFPN (see the summary)
        _ = withCp; // gradient checkpointing only saves memory
        _inChannels = inChannels;
        _numOuts = numOuts;
        OutChannels = outChannels;
        InitCfg = initCfg;
        _reductionConv = new ConvModule(inChannels.Sum(), outChannels, 1, normCfg: null, withRelu: false);
        register_module("reduction_conv", _reductionConv);
        for (int i = 0; i < numOuts; i++)
            _fpnConvs.Add(new ConvModule(outChannels, outChannels, 3, stride: stride, padding: 1, normCfg: null, withRelu: false));
        var fpnConvs = nn.ModuleList(_fpnConvs.ToArray());
        register_module("fpn_convs", fpnConvs);
        // HRFPN's default init_cfg; mmcv then lets reduction_conv (a ConvModule child) re-initialise itself, while the
        // ConvModules inside the plain ModuleList fpn_convs keep Caffe2Xavier.
        WeightInitializers.Apply(fpnConvs, new ConfigDict { ["type"] = "Caffe2Xavier", ["layer"] = "Conv2d" }, "HRFPN");
    }

    /// <summary>Output channels of every level.</summary>
    public int OutChannels { get; }

    /// <summary>An explicit <c>init_cfg</c> (null: the default Caffe2Xavier init, already applied when built).</summary>
    public object? InitCfg { get; }

    public override Tensor[] forward(Tensor[] inputs)
    {
        if (inputs.Length != _inChannels.Length)
            throw new ArgumentException($"HRFPN expects {_inChannels.Length} input maps (in_channels), got {inputs.Length}.");
        using var scope = NewDisposeScope();
        var ups = new Tensor[inputs.Length];
        ups[0] = inputs[0];
        for (int i = 1; i < inputs.Length; i++)
        {
            double f = 1 << i;
            ups[i] = nn.functional.interpolate(inputs[i], scale_factor: [f, f], mode: InterpolationMode.Bilinear, align_corners: false);
        }
        var reduced = _reductionConv.forward(cat(ups, 1));
        var outs = new Tensor[_numOuts];
        for (int k = 0; k < _numOuts; k++)
        {
            long size = 1L << k;
            var level = k == 0 ? reduced
                : _maxPooling ? nn.functional.max_pool2d(reduced, size, stride: size)
                : nn.functional.avg_pool2d(reduced, size, stride: size);
            outs[k] = _fpnConvs[k].forward(level).MoveToOuterDisposeScope();
        }
        return outs;
    }
}

using System.Globalization;
using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Models.Onnx;
using DetSharp.Models.Weights;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Backbones;

/// <summary>
/// MMDetection's <c>CSPDarknet</c> (YOLOv5's and YOLOX's backbone): a <see cref="Focus"/> <c>stem</c> (3×3 conv to
/// 64·<c>widen_factor</c> channels), then per stage of <c>arch</c> (P5: 4 stages, P6: 5; or <c>arch_ovewrite</c>, rows
/// [in, out, blocks, add_identity, use_spp]) a 3×3 stride-2 conv, an <see cref="SPPBottleneck"/> where the row says so,
/// and a <see cref="CSPLayer"/> of max(round(blocks·<c>deepen_factor</c>), 1) bottlenecks; channels × <c>widen_factor</c>
/// (truncated). <c>out_indices</c> count the stem as 0. <c>use_depthwise</c> makes the stride-2 convs and the bottlenecks'
/// 3×3 convs depthwise-separable. BN (momentum 0.03, eps 0.001) and Swish by default; <c>frozen_stages</c> freezes the
/// stem and the first stages, <c>norm_eval</c> keeps BatchNorms in eval mode.
/// </summary>
[Register(Registries.ModelsName, "CSPDarknet")]
public sealed class CSPDarknet : nn.Module<Tensor, Tensor[]>, IHasInitCfg, IOnnxExportable
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private static readonly Dictionary<string, (int In, int Out, int Blocks, bool AddIdentity, bool UseSpp)[]> ArchSettings = new()
    {
        ["P5"] = [(64, 128, 3, true, false), (128, 256, 9, true, false), (256, 512, 9, true, false), (512, 1024, 3, false, true)],
        ["P6"] = [(64, 128, 3, true, false), (128, 256, 9, true, false), (256, 512, 9, true, false), (512, 768, 3, true, false),
            (768, 1024, 3, false, true)],
    };

    private readonly List<nn.Module<Tensor, Tensor>> _layers = [];
    private readonly HashSet<int> _outIndices;
    private readonly int _frozenStages;
    private readonly bool _normEval;

    public CSPDarknet(string arch = "P5", double deepenFactor = 1.0, double widenFactor = 1.0, int[]? outIndices = null, int frozenStages = -1,
        bool useDepthwise = false, object[]? archOvewrite = null, long[]? sppKernalSizes = null, ConfigDict? convCfg = null,
        ConfigOptional<ConfigDict> normCfg = default, ConfigOptional<ConfigDict> actCfg = default, bool normEval = false, object? initCfg = null)
        : base(nameof(CSPDarknet))
    {
        if (!ArchSettings.TryGetValue(arch, out var preset))
            throw new DetSharpException($"CSPDarknet: arch must be 'P5' or 'P6', got '{arch}'.");
        var setting = archOvewrite is null ? preset : archOvewrite.Select(ParseArchRow).ToArray();
        var indices = outIndices ?? [2, 3, 4];
        if (indices.Any(i => i < 0 || i > setting.Length))
            throw new DetSharpException($"CSPDarknet: out_indices must be a subset of range(0, {setting.Length + 1}), got ({string.Join(", ", indices)}).");
        if (frozenStages < -1 || frozenStages > setting.Length)
            throw new DetSharpException($"CSPDarknet: frozen_stages must be in range(-1, {setting.Length + 1}). But received {frozenStages}.");
        _outIndices = [.. indices];
        _frozenStages = frozenStages;
        _normEval = normEval;
        UseDepthwise = useDepthwise;
        // MMDetection's default init_cfg (Kaiming on every Conv2d) reaches no conv here: each is a ConvModule, whose own
        // init_weights (Kaiming fan_out, which ConvModule applies when built) runs after it. Only an explicit one is kept.
        InitCfg = initCfg;
        var convs = ConvModuleSettings.Yolox(convCfg, normCfg, actCfg, nameof(CSPDarknet));
        var stem = new Focus(3, (long)(setting[0].In * widenFactor), convs, kernelSize: 3);
        register_module("stem", stem);
        _layers.Add(stem);
        long[] spp = sppKernalSizes ?? [5, 9, 13];
        for (int i = 0; i < setting.Length; i++)
        {
            var (inC, outC, blocks, addIdentity, useSpp) = setting[i];
            long inChannels = (long)(inC * widenFactor), outChannels = (long)(outC * widenFactor);
            int numBlocks = Math.Max((int)Math.Round(blocks * deepenFactor, MidpointRounding.ToEven), 1);
            var stage = new List<nn.Module<Tensor, Tensor>> { convs.Conv(useDepthwise, inChannels, outChannels, 3, 2, 1) };
            if (useSpp) stage.Add(new SPPBottleneck(outChannels, outChannels, convs, spp));
            stage.Add(new CSPLayer(outChannels, outChannels, convs, numBlocks: numBlocks, addIdentity: addIdentity, useDepthwise: useDepthwise));
            var seq = nn.Sequential(stage.ToArray());
            register_module($"stage{i + 1}", seq);
            _layers.Add(seq);
        }
        FreezeStages();
    }

    public object? InitCfg { get; }

    public bool UseDepthwise { get; }

    private static (int In, int Out, int Blocks, bool AddIdentity, bool UseSpp) ParseArchRow(object row) => row is IList<object?> { Count: 5 } r
        ? (Convert.ToInt32(r[0], CultureInfo.InvariantCulture), Convert.ToInt32(r[1], CultureInfo.InvariantCulture), Convert.ToInt32(r[2], CultureInfo.InvariantCulture),
            Convert.ToBoolean(r[3], CultureInfo.InvariantCulture), Convert.ToBoolean(r[4], CultureInfo.InvariantCulture))
        : throw new DetSharpException($"CSPDarknet: each arch_ovewrite row must be [in_channels, out_channels, num_blocks, add_identity, use_spp], got {ConfigValue.Describe(row)}.");

    private void FreezeStages()
    {
        for (int i = 0; i <= _frozenStages; i++)
        {
            _layers[i].eval();
            ModuleTools.SetRequiresGrad(_layers[i], false);
        }
    }

    public override void train(bool train = true)
    {
        base.train(train);
        FreezeStages();
        if (train && _normEval) NormLayers.EvalBatchNorms(this);
    }

    public override Tensor[] forward(Tensor x)
    {
        var outs = new List<Tensor>();
        for (int i = 0; i < _layers.Count; i++)
        {
            x = _layers[i].forward(x);
            if (_outIndices.Contains(i)) outs.Add(x);
        }
        return [.. outs];
    }

    public IReadOnlyList<string> ExportOnnx(OnnxExportContext ctx, IReadOnlyList<string> inputs)
    {
        string x = inputs[0];
        var outs = new List<string>();
        for (int i = 0; i < _layers.Count; i++)
        {
            x = ctx.Forward(_layers[i], x);
            if (_outIndices.Contains(i)) outs.Add(x);
        }
        return outs;
    }
}

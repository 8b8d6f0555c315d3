using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Models.Onnx;
using DetSharp.Models.Weights;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Necks;

/// <summary>
/// MMDetection's <c>YOLOXPAFPN</c>: a path-aggregation neck of CSP layers. Top-down, from the coarsest input: a 1×1
/// <c>reduce_layers</c> conv to the next finer input's channels (the reduced map replaces the coarse one), upsampled
/// (<c>upsample_cfg</c>, nearest ×2) and concatenated with that input, fused by a <c>top_down_blocks</c>
/// <see cref="CSPLayer"/> (no identity). Bottom-up: a 3×3 stride-2 <c>downsamples</c> conv of the finer output,
/// concatenated with the top-down map of the level above, fused by a <c>bottom_up_blocks</c> CSPLayer. Each level then
/// goes through a 1×1 <c>out_convs</c> ConvModule to <c>out_channels</c>. BN (momentum 0.03, eps 0.001) and Swish by
/// default; <c>use_depthwise</c> makes the downsampling convs and the bottlenecks' 3×3 convs depthwise-separable.
/// </summary>
[Register(Registries.ModelsName, "YOLOXPAFPN")]
public sealed class YOLOXPAFPN : nn.Module<Tensor[], Tensor[]>, IHasInitCfg, IOnnxExportable
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly int[] _inChannels;
    private readonly ConfigDict _upsampleCfg;
    private readonly List<ConvModule> _reduceLayers = [];
    private readonly List<CSPLayer> _topDownBlocks = [];
    private readonly List<nn.Module<Tensor, Tensor>> _downsamples = [];
    private readonly List<CSPLayer> _bottomUpBlocks = [];
    private readonly List<ConvModule> _outConvs = [];

    public YOLOXPAFPN(int[] inChannels, int outChannels, int numCspBlocks = 3, bool useDepthwise = false, ConfigDict? upsampleCfg = null,
        ConfigDict? convCfg = null, ConfigOptional<ConfigDict> normCfg = default, ConfigOptional<ConfigDict> actCfg = default, object? initCfg = null)
        : base(nameof(YOLOXPAFPN))
    {
        if (inChannels.Length < 2) throw new DetSharpException($"YOLOXPAFPN: in_channels needs at least 2 levels, got {inChannels.Length}.");
        _inChannels = inChannels;
        _upsampleCfg = upsampleCfg ?? new ConfigDict { ["scale_factor"] = 2.0, ["mode"] = "nearest" };
        // As CSPDarknet: the default Kaiming init_cfg reaches no conv (all are ConvModules, which initialise themselves after it).
        InitCfg = initCfg;
        var convs = ConvModuleSettings.Yolox(convCfg, normCfg, actCfg, nameof(YOLOXPAFPN));
        for (int idx = inChannels.Length - 1; idx > 0; idx--)
        {
            _reduceLayers.Add(convs.Conv(inChannels[idx], inChannels[idx - 1], 1));
            _topDownBlocks.Add(new CSPLayer(inChannels[idx - 1] * 2, inChannels[idx - 1], convs, numBlocks: numCspBlocks, addIdentity: false,
                useDepthwise: useDepthwise));
        }
        for (int idx = 0; idx < inChannels.Length - 1; idx++)
        {
            _downsamples.Add(convs.Conv(useDepthwise, inChannels[idx], inChannels[idx], 3, 2, 1));
            _bottomUpBlocks.Add(new CSPLayer(inChannels[idx] * 2, inChannels[idx + 1], convs, numBlocks: numCspBlocks, addIdentity: false,
                useDepthwise: useDepthwise));
        }
        foreach (int c in inChannels) _outConvs.Add(convs.Conv(c, outChannels, 1));
        register_module("reduce_layers", nn.ModuleList(_reduceLayers.ToArray()));
        register_module("top_down_blocks", nn.ModuleList(_topDownBlocks.ToArray()));
        register_module("downsamples", nn.ModuleList(_downsamples.ToArray()));
        register_module("bottom_up_blocks", nn.ModuleList(_bottomUpBlocks.ToArray()));
        register_module("out_convs", nn.ModuleList(_outConvs.ToArray()));
    }

    public object? InitCfg { get; }

    public override Tensor[] forward(Tensor[] inputs)
    {
        int n = _inChannels.Length;
        if (inputs.Length != n) throw new ArgumentException($"YOLOXPAFPN expects {n} input maps, got {inputs.Length}.");
        using var scope = NewDisposeScope();
        // Top-down: inner[0] is always the current coarsest-so-far map.
        var inner = new List<Tensor> { inputs[^1] };
        for (int idx = n - 1; idx > 0; idx--)
        {
            int k = n - 1 - idx;
            var high = _reduceLayers[k].forward(inner[0]);
            inner[0] = high;
            var up = FPN.Upsample(_upsampleCfg, high, inputs[idx - 1], nameof(YOLOXPAFPN));
            inner.Insert(0, _topDownBlocks[k].forward(cat([up, inputs[idx - 1]], 1)));
        }
        var outs = new List<Tensor> { inner[0] };
        for (int idx = 0; idx < n - 1; idx++)
        {
            var down = _downsamples[idx].forward(outs[^1]);
            outs.Add(_bottomUpBlocks[idx].forward(cat([down, inner[idx + 1]], 1)));
        }
        var result = new Tensor[n];
        for (int i = 0; i < n; i++) result[i] = _outConvs[i].forward(outs[i]).MoveToOuterDisposeScope();
        return result;
    }

    /// <summary><see cref="forward"/> node for node; the upsampling is FPN's (nearest ×2, or to the finer map's size).</summary>
    public IReadOnlyList<string> ExportOnnx(OnnxExportContext ctx, IReadOnlyList<string> inputs)
    {
        int n = _inChannels.Length;
        if (inputs.Count != n) throw ctx.Unsupported(this, $"{inputs.Count} input maps for {n} levels");
        string name = ctx.ValueName(this);
        var inner = new List<string> { inputs[^1] };
        for (int idx = n - 1; idx > 0; idx--)
        {
            int k = n - 1 - idx;
            string high = ctx.Forward(_reduceLayers[k], inner[0]);
            inner[0] = high;
            string up = FPN.ExportUpsample(ctx, _upsampleCfg, high, inputs[idx - 1], $"{name}.upsample{k}", nameof(YOLOXPAFPN));
            inner.Insert(0, ctx.Forward(_topDownBlocks[k], ctx.Concat([up, inputs[idx - 1]], $"{name}.top_down_concat{k}", 1)));
        }
        var outs = new List<string> { inner[0] };
        for (int idx = 0; idx < n - 1; idx++)
        {
            string down = ctx.Forward(_downsamples[idx], outs[^1]);
            outs.Add(ctx.Forward(_bottomUpBlocks[idx], ctx.Concat([down, inner[idx + 1]], $"{name}.bottom_up_concat{idx}", 1)));
        }
        return [.. outs.Select((o, i) => ctx.Forward(_outConvs[i], o))];
    }
}

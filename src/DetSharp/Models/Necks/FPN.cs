using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Models.Onnx;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Necks;

/// <summary>
/// MMDetection's <c>FPN</c>: 1×1 <c>lateral_convs</c> on inputs <c>start_level..end_level</c>, top-down pathway with
/// nearest upsampling to the exact size of the finer map, 3×3 <c>fpn_convs</c>, then extra levels up to
/// <c>num_outs</c>: stride-2 max pooling (kernel 1) when <c>add_extra_convs</c> is False, otherwise stride-2 3×3 convs
/// (appended to <c>fpn_convs</c>) on the last input ('on_input', also what True means), the last lateral
/// ('on_lateral') or the last output ('on_output'), with an optional ReLU before all but the first
/// (<c>relu_before_extra_convs</c>). Convs are Xavier-uniform initialised.
/// </summary>
[Register(Registries.ModelsName, "FPN")]
public class FPN : nn.Module<Tensor[], Tensor[]>, Weights.IHasInitCfg, IOnnxExportable
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    // Shared with AugFPN (same assembly), not part of the module's public surface.
    private protected readonly int[] InChannelsList;
    private protected readonly int OutChannelsValue;
    private protected readonly int NumOuts;
    private protected readonly int StartLevel;
    private protected readonly int BackboneEndLevel;
    private protected readonly string? ExtraConvsOn;
    private protected readonly bool ReluBeforeExtraConvs;
    private protected readonly ConfigDict UpsampleCfg;
    private protected readonly List<ConvModule> LateralConvs = [];
    private protected readonly List<ConvModule> FpnConvs = [];

    public FPN([InheritedArguments] FPNArguments args)
        : this(nameof(FPN), args)
    {
    }

    protected FPN(string name, FPNArguments args)
        : base(name)
    {
        var (inChannels, outChannels, numOuts, startLevel, endLevel, addExtraConvs, reluBeforeExtraConvs, noNormOnLateral,
            convCfg, normCfg, actCfg, upsampleCfg, initCfg) = args;
        bool withRelu = false;
        if (actCfg is not null)
        {
            if (actCfg.Get<string>("type") != "ReLU") throw new DetSharpException($"{name}: act_cfg type must be ReLU or None.");
            withRelu = true;
        }
        InChannelsList = inChannels;
        OutChannelsValue = outChannels;
        NumOuts = numOuts;
        StartLevel = startLevel;
        ReluBeforeExtraConvs = reluBeforeExtraConvs;
        UpsampleCfg = upsampleCfg ?? new ConfigDict { ["mode"] = "nearest" };
        InitCfg = initCfg;
        int numIns = inChannels.Length;
        BackboneEndLevel = BackboneEndLevelOf(name, numIns, startLevel, endLevel, numOuts);
        ExtraConvsOn = addExtraConvs switch
        {
            null or false => null,
            true => "on_input",
            "on_input" or "on_lateral" or "on_output" => (string)addExtraConvs,
            _ => throw new DetSharpException($"{name}: add_extra_convs must be False, True, 'on_input', 'on_lateral' or 'on_output', got {ConfigValue.Describe(addExtraConvs)}."),
        };

        for (int i = startLevel; i < BackboneEndLevel; i++)
        {
            LateralConvs.Add(new ConvModule(inChannels[i], outChannels, 1, normCfg: noNormOnLateral ? null : normCfg, withRelu: withRelu, convCfg: convCfg));
            FpnConvs.Add(new ConvModule(outChannels, outChannels, 3, padding: 1, normCfg: normCfg, withRelu: withRelu, convCfg: convCfg));
        }
        int extraLevels = numOuts - BackboneEndLevel + startLevel;
        if (ExtraConvsOn is not null && extraLevels >= 1)
        {
            for (int i = 0; i < extraLevels; i++)
            {
                int cin = i == 0 && ExtraConvsOn == "on_input" ? inChannels[BackboneEndLevel - 1] : outChannels;
                FpnConvs.Add(new ConvModule(cin, outChannels, 3, stride: 2, padding: 1, normCfg: normCfg, withRelu: withRelu, convCfg: convCfg));
            }
        }
        register_module("lateral_convs", nn.ModuleList(LateralConvs.ToArray()));
        register_module("fpn_convs", nn.ModuleList(FpnConvs.ToArray()));
        foreach (var c in LateralConvs.Concat(FpnConvs)) ModuleTools.XavierUniformInit(c.Conv);
    }

    /// <summary>
    /// MMDetection's FPN-family level range: the backbone level after the last one used (<c>backbone_end_level</c>) for
    /// <c>start_level</c>/<c>end_level</c> (-1: the last input), with its checks of <c>num_outs</c>.
    /// </summary>
    internal static int BackboneEndLevelOf(string name, int numIns, int startLevel, int endLevel, int numOuts)
    {
        if (endLevel == -1 || endLevel == numIns - 1)
        {
            if (numOuts < numIns - startLevel)
                throw new DetSharpException($"{name}: num_outs ({numOuts}) must be at least len(in_channels) - start_level ({numIns - startLevel}).");
            return numIns;
        }
        if (endLevel >= numIns) throw new DetSharpException($"{name}: end_level ({endLevel}) must be < len(in_channels) ({numIns}).");
        if (numOuts != endLevel - startLevel + 1)
            throw new DetSharpException($"{name}: num_outs must equal end_level - start_level + 1 = {endLevel - startLevel + 1}.");
        return endLevel + 1;
    }

    /// <summary>The <c>init_cfg</c> as given.</summary>
    public object? InitCfg { get; }

    /// <summary>Output channels of every level.</summary>
    public int OutChannels => OutChannelsValue;

    /// <summary>Adds <paramref name="coarse"/> upsampled to <paramref name="fine"/>'s size (or by upsample_cfg.scale_factor).</summary>
    protected Tensor Upsample(Tensor coarse, Tensor fine) => Upsample(UpsampleCfg, coarse, fine, "FPN");

    /// <summary>
    /// An <c>upsample_cfg</c> (mode nearest or bilinear, <c>align_corners</c>) applied to <paramref name="coarse"/>: by its
    /// <c>scale_factor</c> when it has one, else to <paramref name="fine"/>'s size; <paramref name="owner"/> names the neck
    /// in errors.
    /// </summary>
    internal static Tensor Upsample(ConfigDict upsampleCfg, Tensor coarse, Tensor? fine, string owner)
    {
        string mode = upsampleCfg.Get("mode", "nearest");
        var m = mode switch
        {
            "nearest" => InterpolationMode.Nearest,
            "bilinear" => InterpolationMode.Bilinear,
            _ => throw new DetSharpException($"{owner}: upsample_cfg mode '{mode}' is not supported."),
        };
        bool? alignCorners = upsampleCfg.TryGet<bool>("align_corners", out var ac) ? ac : null;
        if (upsampleCfg.TryGet<double>("scale_factor", out var sf))
            return nn.functional.interpolate(coarse, scale_factor: [sf, sf], mode: m, align_corners: alignCorners);
        if (fine is null) throw new DetSharpException($"{owner}: upsample_cfg needs a scale_factor.");
        return nn.functional.interpolate(coarse, size: [fine.shape[2], fine.shape[3]], mode: m, align_corners: alignCorners);
    }

    /// <summary>The 1×1 lateral maps (M levels) before the top-down sums.</summary>
    protected List<Tensor> Laterals(Tensor[] inputs)
    {
        if (inputs.Length != InChannelsList.Length)
            throw new ArgumentException($"FPN expects {InChannelsList.Length} input maps, got {inputs.Length}.");
        var laterals = new List<Tensor>();
        for (int i = 0; i < LateralConvs.Count; i++)
            laterals.Add(LateralConvs[i].forward(inputs[i + StartLevel]));
        return laterals;
    }

    /// <summary>Top-down pathway, output convs and extra levels over (possibly augmented) laterals.</summary>
    protected Tensor[] TopDown(Tensor[] inputs, List<Tensor> laterals)
    {
        int used = laterals.Count;
        for (int i = used - 1; i > 0; i--)
            laterals[i - 1] = laterals[i - 1] + Upsample(laterals[i], laterals[i - 1]);
        var outs = new List<Tensor>();
        for (int i = 0; i < used; i++) outs.Add(FpnConvs[i].forward(laterals[i]));
        AddExtraLevels(inputs, laterals, outs);
        return outs.ToArray();
    }

    /// <summary>
    /// The extra levels up to <c>num_outs</c> after the <paramref name="laterals"/>.Count outputs of the backbone levels:
    /// max pooling or the extra <c>fpn_convs</c> (shared by FPN and PAFPN, whose forward ends the same way).
    /// </summary>
    protected void AddExtraLevels(Tensor[] inputs, List<Tensor> laterals, List<Tensor> outs)
    {
        int used = laterals.Count;
        if (NumOuts > outs.Count)
        {
            if (ExtraConvsOn is null)
            {
                for (int i = 0; i < NumOuts - used; i++)
                    outs.Add(nn.functional.max_pool2d(outs[^1], 1, stride: 2));
            }
            else
            {
                Tensor source = ExtraConvsOn switch
                {
                    "on_input" => inputs[BackboneEndLevel - 1],
                    "on_lateral" => laterals[^1],
                    _ => outs[^1],
                };
                outs.Add(FpnConvs[used].forward(source));
                for (int i = used + 1; i < NumOuts; i++)
                    outs.Add(FpnConvs[i].forward(ReluBeforeExtraConvs ? nn.functional.relu(outs[^1]) : outs[^1]));
            }
        }
    }

    public override Tensor[] forward(Tensor[] inputs)
    {
        using var scope = NewDisposeScope();
        var outs = TopDown(inputs, Laterals(inputs));
        foreach (var o in outs) o.MoveToOuterDisposeScope();
        return outs;
    }

    /// <summary><see cref="forward"/> as ONNX nodes; a neck that changes the laterals or the top-down pathway (AugFPN) overrides it.</summary>
    public virtual IReadOnlyList<string> ExportOnnx(OnnxExportContext ctx, IReadOnlyList<string> inputs)
    {
        if (GetType() != typeof(FPN)) throw ctx.Unsupported(this, "its forward differs from FPN's and has no export of its own");
        var laterals = new List<string>();
        for (int i = 0; i < LateralConvs.Count; i++) laterals.Add(ctx.Forward(LateralConvs[i], inputs[i + StartLevel]));
        return ExportTopDown(ctx, inputs, laterals);
    }

    /// <summary><see cref="TopDown"/> as ONNX nodes.</summary>
    protected IReadOnlyList<string> ExportTopDown(OnnxExportContext ctx, IReadOnlyList<string> inputs, List<string> laterals)
    {
        int used = laterals.Count;
        for (int i = used - 1; i > 0; i--)
        {
            string name = ctx.ValueName(this, $"top_down{i - 1}");
            laterals[i - 1] = ctx.Add(laterals[i - 1], ExportUpsample(ctx, UpsampleCfg, laterals[i], laterals[i - 1], name + ".upsample", "FPN"), name);
        }
        var outs = new List<string>();
        for (int i = 0; i < used; i++) outs.Add(ctx.Forward(FpnConvs[i], laterals[i]));
        if (NumOuts > outs.Count)
        {
            if (ExtraConvsOn is null)
            {
                for (int i = 0; i < NumOuts - used; i++)
                    outs.Add(ctx.MaxPool(outs[^1], ctx.ValueName(this, $"extra_pool{i}"), [1, 1], [2, 2], [0, 0]));
            }
            else
            {
                string source = ExtraConvsOn switch
                {
                    "on_input" => inputs[BackboneEndLevel - 1],
                    "on_lateral" => laterals[^1],
                    _ => outs[^1],
                };
                outs.Add(ctx.Forward(FpnConvs[used], source));
                for (int i = used + 1; i < NumOuts; i++)
                    outs.Add(ctx.Forward(FpnConvs[i], ReluBeforeExtraConvs ? ctx.Relu(outs[^1], ctx.ValueName(this, $"extra_relu{i}")) : outs[^1]));
            }
        }
        return outs;
    }

    /// <summary><see cref="Upsample(ConfigDict, Tensor, Tensor?, string)"/> as an ONNX <c>Resize</c>.</summary>
    internal static string ExportUpsample(OnnxExportContext ctx, ConfigDict upsampleCfg, string coarse, string? fine, string name, string owner)
    {
        string mode = upsampleCfg.Get("mode", "nearest");
        bool alignCorners = upsampleCfg.TryGet<bool>("align_corners", out var ac) && ac;
        if (upsampleCfg.TryGet<double>("scale_factor", out var sf)) return ctx.Resize(coarse, name, sf, mode, alignCorners);
        if (fine is null) throw new DetSharpException($"{owner}: upsample_cfg needs a scale_factor.");
        return ctx.ResizeLike(coarse, fine, name, mode, alignCorners);
    }
}

/// <summary>
/// FPN's constructor arguments under MMDetection's names, read from the neck dict; necks that extend FPN (AugFPN) take
/// them as one <see cref="InheritedArgumentsAttribute"/> parameter and add their own.
/// </summary>
public sealed record FPNArguments(
    int[] InChannels,
    int OutChannels,
    int NumOuts,
    int StartLevel = 0,
    int EndLevel = -1,
    object? AddExtraConvs = null,
    bool ReluBeforeExtraConvs = false,
    bool NoNormOnLateral = false,
    ConfigDict? ConvCfg = null,
    ConfigDict? NormCfg = null,
    ConfigDict? ActCfg = null,
    ConfigDict? UpsampleCfg = null,
    object? InitCfg = null);

using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Models.Onnx;
using DetSharp.Models.Weights;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Backbones;

/// <summary>Where a ResNet bottleneck puts its stride: 'pytorch' on the 3×3 conv, 'caffe' on the first 1×1.</summary>
public enum ResNetStyle
{
    Pytorch,
    Caffe,
}

/// <summary>
/// MMDetection's <c>ResNet</c> backbone (depth 18/34/50/101/152), and the one implementation of the stem, the stages
/// (<see cref="ResLayer"/>), <c>frozen_stages</c>, <c>norm_eval</c> and <c>out_indices</c> that the backbones built on it
/// share (<see cref="ResNeXt"/>, <see cref="RegNet"/>, <see cref="Res2Net"/>, <see cref="ResNeSt"/>: they differ in
/// their block, their stage widths and, for RegNet, the stem). Keys as MMDetection: <c>conv1</c>, <c>bn1</c> (or
/// <c>stem.*</c> with <c>deep_stem</c>), <c>layer1..layerN</c> of blocks <c>0..k</c> with <c>downsample.*</c>.
/// <c>frozen_stages</c> freezes the stem and the first stages (requires_grad off, kept in eval mode); <c>norm_eval</c>
/// keeps every BatchNorm in eval mode while training. Init as MMDetection: Kaiming (fan_out, relu) convs, BN weight 1
/// bias 0, and with <c>zero_init_residual</c> the last BN of each block zero.
/// Returns the stage outputs listed in <c>out_indices</c>.
/// <para>
/// Two DetSharp extensions of ResNet itself (defaults leave MMDetection's ResNet unchanged) describe the ImageNet
/// ResNet shipped in the NuGet package Microsoft.ML.DnnImageFeaturizer.ResNet18 (exported from CNTK):
/// <c>stage_blocks=(2, 2, 2, 3)</c> overrides the blocks per stage of the depth, and <c>pad_mode='cntk'</c> pads as
/// that ONNX graph does — the 7×7 stem conv 3 before and 2 after, the stem max-pool and each stride-2 3×3 conv 1 before
/// and 0 after (PyTorch pads both sides alike). On even feature sizes, as with inputs padded to a multiple of 32, both
/// give the same result; on odd sizes the 'cntk' outputs are one smaller, as ONNX Runtime computes that file.
/// </para>
/// </summary>
[Register(Registries.ModelsName, "ResNet")]
public class ResNet : nn.Module<Tensor, Tensor[]>, IHasInitCfg, IOnnxExportable
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    /// <summary>The stem: ResNet's 7×7 conv (or the deep stem) then a 3×3 max-pool, or RegNet's 3×3 conv without pool.</summary>
    private protected enum StemKind
    {
        ResNet,
        RegNet,
    }

    /// <summary>
    /// One member of the family: its arguments with the family's defaults filled in, its stem, the planes and blocks of
    /// each stage, the block's expansion and how a stage's block is built (stage index, block arguments).
    /// </summary>
    private protected sealed record Plan(
        string Family,
        ResNetArguments Args,
        StemKind Stem,
        long[] StagePlanes,
        int[] StageBlocks,
        int Expansion,
        Func<int, ResBlockArgs, nn.Module<Tensor, Tensor>> Block,
        bool CntkPadding = false,
        bool BlocksTakeDcn = false,
        bool BlocksTakeConvCfg = false,
        bool BlocksTakePlugins = false);

    private static readonly Dictionary<int, (bool Bottleneck, int[] Blocks)> Arch = new()
    {
        [18] = (false, [2, 2, 2, 2]),
        [34] = (false, [3, 4, 6, 3]),
        [50] = (true, [3, 4, 6, 3]),
        [101] = (true, [3, 4, 23, 3]),
        [152] = (true, [3, 8, 36, 3]),
    };

    /// <summary>The residual blocks per stage of a Bottleneck ResNet of <paramref name="depth"/> (50, 101, 152), for heads that build one stage.</summary>
    internal static int[] StageBlocksOf(int depth) =>
        Arch.TryGetValue(depth, out var arch) && arch.Bottleneck ? arch.Blocks : throw new DetSharpException($"ResNet: no Bottleneck ResNet of depth {depth}.");

    private readonly nn.Module<Tensor, Tensor>? _conv1, _bn1, _stem;
    private readonly List<nn.Module<Tensor, Tensor>> _layers = [];
    private readonly int[] _outIndices;
    private readonly int _frozenStages;
    private readonly bool _normEval;
    private readonly bool _maxPool;
    private readonly bool _cntkPadding;

    /// <param name="depth">18, 34 (BasicBlock), 50, 101, 152 (Bottleneck).</param>
    /// <param name="args">MMDetection's ResNet arguments.</param>
    /// <param name="stageBlocks">DetSharp extension: blocks per stage instead of the depth's.</param>
    /// <param name="padMode">DetSharp extension: 'pytorch' or 'cntk' (see the class remarks).</param>
    public ResNet(int depth, [InheritedArguments] ResNetArguments? args = null, int[]? stageBlocks = null, string padMode = "pytorch")
        : this(ResNetPlan(depth, WithResNetDefaults(args ?? new ResNetArguments()), stageBlocks, padMode))
    {
    }

    private static Plan ResNetPlan(int depth, ResNetArguments a, int[]? stageBlocks, string padMode)
    {
        if (!Arch.TryGetValue(depth, out var arch))
            throw new DetSharpException($"ResNet: invalid depth {depth}; expected one of 18, 34, 50, 101, 152.");
        bool cntk = padMode switch
        {
            "pytorch" => false,
            "cntk" => true,
            _ => throw new DetSharpException($"ResNet: pad_mode must be 'pytorch' or 'cntk', got '{padMode}'."),
        };
        if (cntk && (arch.Bottleneck || a.DeepStem == true || a.Dilations!.Take(a.NumStages!.Value).Any(d => d != 1)))
            throw new DetSharpException("ResNet: pad_mode='cntk' is supported for basic-block ResNets (depth 18/34) without deep_stem or dilation.");
        return new Plan("ResNet", a, StemKind.ResNet, DoublingPlanes(a), stageBlocks ?? arch.Blocks,
            arch.Bottleneck ? Bottleneck.Expansion : BasicBlock.Expansion,
            (_, b) => arch.Bottleneck
                ? new Bottleneck(b.Inplanes, b.Planes, b.Stride, b.Dilation, b.Downsample, b.Style, b.NormCfg, dcn: b.Dcn, convCfg: b.ConvCfg, plugins: b.Plugins)
                : new BasicBlock(b.Inplanes, b.Planes, b.Stride, b.Dilation, b.Downsample, b.NormCfg, cntk && b.Stride == 2 ? CntkStride2Pad : null, b.ConvCfg),
            cntk, BlocksTakeDcn: arch.Bottleneck, BlocksTakeConvCfg: true, BlocksTakePlugins: arch.Bottleneck);
    }

    /// <summary>ResNet's defaults for the arguments a config leaves out (the families set theirs first).</summary>
    private protected static ResNetArguments WithResNetDefaults(ResNetArguments a) => a with
    {
        BaseChannels = a.BaseChannels ?? 64,
        StemChannels = a.StemChannels ?? a.BaseChannels ?? 64,
        NumStages = a.NumStages ?? 4,
        Strides = a.Strides ?? [1, 2, 2, 2],
        Dilations = a.Dilations ?? [1, 1, 1, 1],
        OutIndices = a.OutIndices ?? [0, 1, 2, 3],
        Style = a.Style ?? ResNetStyle.Pytorch,
        DeepStem = a.DeepStem ?? false,
        AvgDown = a.AvgDown ?? false,
        NormCfg = a.NormCfg ?? NormLayers.DefaultBn(),
    };

    /// <summary>ResNet's stage planes: base_channels doubled at every stage.</summary>
    private protected static long[] DoublingPlanes(ResNetArguments a) =>
        Enumerable.Range(0, a.NumStages!.Value).Select(i => (long)a.BaseChannels!.Value << i).ToArray();

    /// <summary>Refuses a flag a family fixes (Res2Net's and ResNeSt's deep stem and avg_down), instead of ignoring it.</summary>
    private protected static bool Fixed(string family, string key, bool? given, bool value) =>
        given is null || given == value ? value
            : throw new DetSharpException($"{family}: {key} is always {(value ? "True" : "False")} in {family}; remove '{key}' from the backbone config.");

    private protected ResNet(Plan plan)
        : base(plan.Family)
    {
        var a = plan.Args;
        string family = plan.Family;
        int numStages = a.NumStages!.Value;
        int[] strides = a.Strides!, dilations = a.Dilations!, outIndices = a.OutIndices!;
        if (numStages is < 1 or > 4)
            throw new DetSharpException($"{family}: num_stages must be 1..4, got {numStages}.");
        if (a.ConvCfg is not null && !plan.BlocksTakeConvCfg)
            throw new DetSharpException($"{family}: conv_cfg is supported in ResNet, ResNeXt and RegNet, not in {family}; remove 'conv_cfg' from this backbone.");
        if (a.Dcn is not null && !plan.BlocksTakeDcn)
            throw new DetSharpException($"{family}: dcn (deformable convolution) is supported in the Bottleneck blocks of ResNet (depth 50+), ResNeXt and RegNet; remove 'dcn' from this backbone.");
        if (a.Plugins is not null && !plan.BlocksTakePlugins)
            throw new DetSharpException($"{family}: plugins are supported in the Bottleneck blocks of ResNet (depth 50+), ResNeXt and RegNet (as in MMDetection, whose BasicBlock refuses them); remove 'plugins' from this backbone.");
        // stage_with_dcn only says where dcn applies; without dcn it has no effect, as in mmdet.
        if (a.StageWithDcn is not null && a.StageWithDcn.Length != numStages)
            throw new DetSharpException($"{family}: stage_with_dcn has {a.StageWithDcn.Length} entries for num_stages={numStages}.");
        _ = a.WithCp; // gradient checkpointing only saves memory; results are the same without it.
        PretrainedHint = a.Pretrained;
        // MMDetection turns the deprecated `pretrained=X` into init_cfg=dict(type='Pretrained', checkpoint=X).
        InitCfg = a.InitCfg ?? (a.Pretrained is null ? null : new ConfigDict { { "type", "Pretrained" }, { "checkpoint", a.Pretrained } });
        if (strides.Length < numStages || dilations.Length < numStages)
            throw new DetSharpException($"{family}: strides and dilations need {numStages} entries.");
        if (outIndices.Any(i => i < 0 || i >= numStages))
            throw new DetSharpException($"{family}: out_indices must be in 0..{numStages - 1}, got ({string.Join(", ", outIndices)}).");
        if (plan.StageBlocks.Length < numStages || plan.StageBlocks.Take(numStages).Any(b => b < 1))
            throw new DetSharpException($"{family}: stage_blocks needs {numStages} positive entries, got ({string.Join(", ", plan.StageBlocks)}).");
        StageBlocks = plan.StageBlocks.Take(numStages).ToArray();
        var normCfg = a.NormCfg!;
        _outIndices = outIndices;
        _frozenStages = a.FrozenStages;
        _normEval = a.NormEval;
        _cntkPadding = plan.CntkPadding;
        _maxPool = plan.Stem == StemKind.ResNet;
        int inChannels = a.InChannels, stem = a.StemChannels!.Value;

        if (plan.Stem == StemKind.RegNet || a.DeepStem != true)
        {
            _conv1 = plan.Stem == StemKind.RegNet
                ? ConvLayers.Build(a.ConvCfg, inChannels, stem, 3, 2, 1, bias: false)
                : ConvLayers.Build(a.ConvCfg, inChannels, stem, 7, 2, _cntkPadding ? 0 : 3, bias: false);
            register_module("conv1", _conv1);
            var (n1, bn1) = NormLayers.Build(normCfg, stem, "1");
            _bn1 = (nn.Module<Tensor, Tensor>)bn1;
            register_module(n1, bn1);
        }
        else
        {
            var half = stem / 2;
            var (_, na) = NormLayers.Build(normCfg, half);
            var (_, nb) = NormLayers.Build(normCfg, half);
            var (_, nc) = NormLayers.Build(normCfg, stem);
            _stem = nn.Sequential(
                ("0", ConvLayers.Build(a.ConvCfg, inChannels, half, 3, 2, 1, bias: false)), ("1", (nn.Module<Tensor, Tensor>)na), ("2", nn.ReLU()),
                ("3", ConvLayers.Build(a.ConvCfg, half, half, 3, padding: 1, bias: false)), ("4", (nn.Module<Tensor, Tensor>)nb), ("5", nn.ReLU()),
                ("6", ConvLayers.Build(a.ConvCfg, half, stem, 3, padding: 1, bias: false)), ("7", (nn.Module<Tensor, Tensor>)nc), ("8", nn.ReLU()));
            register_module("stem", _stem);
        }

        long inplanes = stem;
        for (int i = 0; i < numStages; i++)
        {
            int stage = i;
            var layer = ResLayer.Build(inplanes, plan.StagePlanes[i], plan.Expansion, StageBlocks[i], strides[i], dilations[i], a.AvgDown!.Value,
                a.Style!.Value, normCfg, b => plan.Block(stage, b), a.Dcn is not null && (a.StageWithDcn?[i] ?? false) ? a.Dcn : null, a.ConvCfg,
                BlockPlugin.ForStage(a.Plugins, i, numStages, family));
            _layers.Add(layer);
            register_module($"layer{i + 1}", layer);
            inplanes = plan.StagePlanes[i] * plan.Expansion;
        }
        OutChannels = outIndices.Select(i => (int)(plan.StagePlanes[i] * plan.Expansion)).ToArray();

        InitWeights(a.ZeroInitResidual);
        FreezeStages();
    }

    /// <summary>CNTK's "same" padding of a stride-2 3×3 window on an even size: (left, right, top, bottom).</summary>
    private static readonly long[] CntkStride2Pad = [1, 0, 1, 0];

    /// <summary>CNTK's "same" padding of the stride-2 7×7 stem conv on an even size.</summary>
    private static readonly long[] CntkStemPad = [3, 2, 3, 2];

    /// <summary>Residual blocks in each stage (from the depth, or <c>stage_blocks</c>).</summary>
    public int[] StageBlocks { get; }

    /// <summary>Channels of each returned feature map.</summary>
    public int[] OutChannels { get; }

    /// <summary>The <c>pretrained</c> argument (deprecated in MMDetection; becomes a 'Pretrained' <see cref="InitCfg"/>).</summary>
    public string? PretrainedHint { get; }

    /// <summary>The <c>init_cfg</c> as given; <see cref="PretrainedInit.InitWeights"/> loads its 'Pretrained' entry.</summary>
    public object? InitCfg { get; }

    private void InitWeights(bool zeroInitResidual)
    {
        // MMDetection initialises a plugin's convs with the backbone's Kaiming only when the backbone itself is randomly
        // initialised; with a 'Pretrained' init_cfg (every zoo config) the plugins keep their own init (ContextBlock's and
        // NonLocal2d's last layer zero, so that a pretrained backbone starts unchanged).
        var ownInit = IsPretrained(InitCfg)
            ? named_modules().Where(m => m.module is IPluginLayer).Select(m => m.name + ".").ToList()
            : [];
        foreach (var (name, m) in named_modules())
        {
            if (ownInit.Any(prefix => name.StartsWith(prefix, StringComparison.Ordinal))) continue;
            // A deformable conv's offsets start at zero (its own init), so that training starts from the regular grid
            // with or without pretrained weights. (MMDetection's random-init path would Kaiming-init DCN's conv_offset,
            // its pretrained path — every zoo config — keeps it zero.)
            if (name.EndsWith("conv_offset", StringComparison.Ordinal)) continue;
            if (ConvLayers.IsPlainConv(m)) ModuleTools.KaimingInit(m);
            else if (NormLayers.IsBatchNorm(m) || m is TorchSharp.Modules.GroupNorm) ModuleTools.ConstantInit(m, 1);
        }
        if (!zeroInitResidual) return;
        foreach (var (_, m) in named_modules())
            if (m is IResidualBlock block) ModuleTools.ConstantInit(block.LastNorm, 0);
    }

    private static bool IsPretrained(object? initCfg) => initCfg switch
    {
        ConfigDict d => d.Get("type", "") == "Pretrained",
        IList<object?> list => list.Any(IsPretrained),
        _ => false,
    };

    private void FreezeStages()
    {
        if (_frozenStages < 0) return;
        if (_stem is not null)
        {
            _stem.eval();
            ModuleTools.SetRequiresGrad(_stem, false);
        }
        else
        {
            _bn1!.eval();
            ModuleTools.SetRequiresGrad(_conv1!, false);
            ModuleTools.SetRequiresGrad(_bn1, false);
        }
        for (int i = 1; i <= _frozenStages && i <= _layers.Count; i++)
        {
            _layers[i - 1].eval();
            ModuleTools.SetRequiresGrad(_layers[i - 1], false);
        }
    }

    /// <summary>Train mode with MMDetection's twists: frozen stages stay in eval, and with norm_eval every BN too.</summary>
    public override void train(bool train = true)
    {
        base.train(train);
        FreezeStages();
        if (train && _normEval) NormLayers.EvalBatchNorms(this);
    }

    public override Tensor[] forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        Tensor h;
        if (_stem is not null) h = _stem.forward(x);
        else h = nn.functional.relu(_bn1!.forward(_conv1!.forward(_cntkPadding ? nn.functional.pad(x, CntkStemPad) : x)));
        if (_cntkPadding)
            h = nn.functional.max_pool2d(nn.functional.pad(h, CntkStride2Pad, value: double.NegativeInfinity), 3, stride: 2);
        else if (_maxPool)
            h = nn.functional.max_pool2d(h, 3, stride: 2, padding: 1);
        var outs = new List<Tensor>();
        for (int i = 0; i < _layers.Count; i++)
        {
            h = _layers[i].forward(h);
            if (_outIndices.Contains(i)) outs.Add(h);
        }
        foreach (var o in outs) o.MoveToOuterDisposeScope();
        return outs.ToArray();
    }

    /// <summary>The eval-mode forward as ONNX nodes (the family's blocks export themselves; ones that cannot are named).</summary>
    public IReadOnlyList<string> ExportOnnx(OnnxExportContext ctx, IReadOnlyList<string> inputs)
    {
        string x = inputs[0];
        string h;
        if (_stem is not null) h = ctx.Forward(_stem, x);
        else
        {
            string input = _cntkPadding ? ctx.Pad(x, ctx.ValueName(this, "stem_pad"), CntkStemPad) : x;
            h = ctx.Relu(ctx.Forward(_bn1!, ctx.Forward(_conv1!, input)), ctx.ValueName(this, "relu"));
        }
        if (_cntkPadding)
            h = ctx.MaxPool(ctx.Pad(h, ctx.ValueName(this, "maxpool_pad"), CntkStride2Pad, float.NegativeInfinity), ctx.ValueName(this, "maxpool"), [3, 3], [2, 2], [0, 0]);
        else if (_maxPool)
            h = ctx.MaxPool(h, ctx.ValueName(this, "maxpool"), [3, 3], [2, 2], [1, 1]);
        var outs = new List<string>();
        for (int i = 0; i < _layers.Count; i++)
        {
            h = ctx.Forward(_layers[i], h);
            if (_outIndices.Contains(i)) outs.Add(h);
        }
        return outs;
    }
}

using DetSharp.Config;
using DetSharp.Models.Common;
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
/// MMDetection's <c>ResNet</c> backbone (depth 18/34/50/101/152). Keys as MMDetection: <c>conv1</c>, <c>bn1</c> (or
/// <c>stem.*</c> with <c>deep_stem</c>), <c>layer1..layerN</c> of blocks <c>0..k</c> with <c>downsample.0/1</c>.
/// <c>frozen_stages</c> freezes the stem and the first stages (requires_grad off, kept in eval mode); <c>norm_eval</c>
/// keeps every BatchNorm in eval mode while training. Init as MMDetection: Kaiming (fan_out, relu) convs, BN weight 1
/// bias 0, and with <c>zero_init_residual</c> the last BN of each block zero.
/// Returns the stage outputs listed in <c>out_indices</c>.
/// <para>
/// Two DetSharp extensions (defaults leave MMDetection's ResNet unchanged) describe the ImageNet ResNet shipped in
/// the NuGet package Microsoft.ML.DnnImageFeaturizer.ResNet18 (exported from CNTK): <c>stage_blocks=(2, 2, 2, 3)</c>
/// overrides the blocks per stage of the depth, and <c>pad_mode='cntk'</c> pads as that ONNX graph does — the 7×7
/// stem conv 3 before and 2 after, the stem max-pool and each stride-2 3×3 conv 1 before and 0 after (PyTorch pads
/// both sides alike). On even feature sizes, as with inputs padded to a multiple of 32, both give the same result;
/// on odd sizes the 'cntk' outputs are one smaller, as ONNX Runtime computes that file.
/// </para>
/// </summary>
[Register(Registries.ModelsName, "ResNet")]
public sealed class ResNet : nn.Module<Tensor, Tensor[]>, IHasInitCfg
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private static readonly Dictionary<int, (bool Bottleneck, int[] Blocks)> Arch = new()
    {
        [18] = (false, [2, 2, 2, 2]),
        [34] = (false, [3, 4, 6, 3]),
        [50] = (true, [3, 4, 6, 3]),
        [101] = (true, [3, 4, 23, 3]),
        [152] = (true, [3, 8, 36, 3]),
    };

    private readonly nn.Module<Tensor, Tensor>? _conv1, _bn1, _stem;
    private readonly List<nn.Module<Tensor, Tensor>> _layers = [];
    private readonly int[] _outIndices;
    private readonly int _frozenStages;
    private readonly bool _normEval;

    public ResNet(
        int depth,
        int inChannels = 3,
        int? stemChannels = null,
        int baseChannels = 64,
        int numStages = 4,
        int[]? strides = null,
        int[]? dilations = null,
        int[]? outIndices = null,
        ResNetStyle style = ResNetStyle.Pytorch,
        bool deepStem = false,
        bool avgDown = false,
        int frozenStages = -1,
        ConfigDict? convCfg = null,
        ConfigDict? normCfg = null,
        bool normEval = true,
        ConfigDict? dcn = null,
        bool[]? stageWithDcn = null,
        object? plugins = null,
        bool withCp = false,
        bool zeroInitResidual = true,
        int[]? stageBlocks = null,
        string padMode = "pytorch",
        string? pretrained = null,
        object? initCfg = null)
        : base(nameof(ResNet))
    {
        if (!Arch.TryGetValue(depth, out var arch))
            throw new DetSharpException($"ResNet: invalid depth {depth}; expected one of 18, 34, 50, 101, 152.");
        if (numStages is < 1 or > 4)
            throw new DetSharpException($"ResNet: num_stages must be 1..4, got {numStages}.");
        if (convCfg is not null) throw new DetSharpException("ResNet: conv_cfg is not supported (only plain convolutions).");
        if (dcn is not null) throw new DetSharpException("ResNet: dcn (deformable convolution) is not supported.");
        if (plugins is not null) throw new DetSharpException("ResNet: plugins are not supported.");
        // stage_with_dcn only says where dcn applies; without dcn (refused above when set) it has no effect, as in mmdet.
        if (stageWithDcn is not null && stageWithDcn.Length != numStages)
            throw new DetSharpException($"ResNet: stage_with_dcn has {stageWithDcn.Length} entries for num_stages={numStages}.");
        _ = withCp; // gradient checkpointing only saves memory; results are the same without it.
        PretrainedHint = pretrained;
        // MMDetection turns the deprecated `pretrained=X` into init_cfg=dict(type='Pretrained', checkpoint=X).
        InitCfg = initCfg ?? (pretrained is null ? null : new ConfigDict { { "type", "Pretrained" }, { "checkpoint", pretrained } });
        strides ??= [1, 2, 2, 2];
        dilations ??= [1, 1, 1, 1];
        outIndices ??= [0, 1, 2, 3];
        if (strides.Length < numStages || dilations.Length < numStages)
            throw new DetSharpException($"ResNet: strides and dilations need {numStages} entries.");
        if (outIndices.Any(i => i < 0 || i >= numStages))
            throw new DetSharpException($"ResNet: out_indices must be in 0..{numStages - 1}, got ({string.Join(", ", outIndices)}).");
        var blocksPerStage = stageBlocks ?? arch.Blocks;
        if (blocksPerStage.Length < numStages || blocksPerStage.Take(numStages).Any(b => b < 1))
            throw new DetSharpException($"ResNet: stage_blocks needs {numStages} positive entries, got ({string.Join(", ", blocksPerStage)}).");
        _cntkPadding = padMode switch
        {
            "pytorch" => false,
            "cntk" => true,
            _ => throw new DetSharpException($"ResNet: pad_mode must be 'pytorch' or 'cntk', got '{padMode}'."),
        };
        if (_cntkPadding && (arch.Bottleneck || deepStem || dilations.Take(numStages).Any(d => d != 1)))
            throw new DetSharpException("ResNet: pad_mode='cntk' is supported for basic-block ResNets (depth 18/34) without deep_stem or dilation.");
        StageBlocks = blocksPerStage.Take(numStages).ToArray();
        normCfg ??= NormLayers.DefaultBn();
        _outIndices = outIndices;
        _frozenStages = frozenStages;
        _normEval = normEval;
        int stem = stemChannels ?? baseChannels;

        if (deepStem)
        {
            var half = stem / 2;
            var (na, a) = NormLayers.Build(normCfg, half);
            var (nb, b) = NormLayers.Build(normCfg, half);
            var (nc, c) = NormLayers.Build(normCfg, stem);
            _ = (na, nb, nc);
            _stem = nn.Sequential(
                ("0", nn.Conv2d(inChannels, half, 3, stride: 2, padding: 1, bias: false)), ("1", (nn.Module<Tensor, Tensor>)a), ("2", nn.ReLU()),
                ("3", nn.Conv2d(half, half, 3, padding: 1, bias: false)), ("4", (nn.Module<Tensor, Tensor>)b), ("5", nn.ReLU()),
                ("6", nn.Conv2d(half, stem, 3, padding: 1, bias: false)), ("7", (nn.Module<Tensor, Tensor>)c), ("8", nn.ReLU()));
            register_module("stem", _stem);
        }
        else
        {
            _conv1 = nn.Conv2d(inChannels, stem, 7, stride: 2, padding: _cntkPadding ? 0 : 3, bias: false);
            register_module("conv1", _conv1);
            var (n1, bn1) = NormLayers.Build(normCfg, stem, "1");
            _bn1 = (nn.Module<Tensor, Tensor>)bn1;
            register_module(n1, bn1);
        }

        long inplanes = stem;
        int expansion = arch.Bottleneck ? Bottleneck.Expansion : BasicBlock.Expansion;
        for (int i = 0; i < numStages; i++)
        {
            long planes = (long)baseChannels << i;
            int stride = strides[i], dilation = dilations[i];
            var blocks = new List<(string, nn.Module<Tensor, Tensor>)>();
            for (int b = 0; b < blocksPerStage[i]; b++)
            {
                nn.Module<Tensor, Tensor>? downsample = null;
                int blockStride = b == 0 ? stride : 1;
                if (b == 0 && (stride != 1 || inplanes != planes * expansion))
                    downsample = MakeDownsample(inplanes, planes * expansion, stride, avgDown, normCfg);
                nn.Module<Tensor, Tensor> block = arch.Bottleneck
                    ? new Bottleneck(inplanes, planes, blockStride, dilation, downsample, style, normCfg)
                    : new BasicBlock(inplanes, planes, blockStride, dilation, downsample, normCfg,
                        _cntkPadding && blockStride == 2 ? CntkStride2Pad : null);
                blocks.Add((b.ToString(System.Globalization.CultureInfo.InvariantCulture), block));
                inplanes = planes * expansion;
            }
            var layer = nn.Sequential(blocks.ToArray());
            _layers.Add(layer);
            register_module($"layer{i + 1}", layer);
        }
        OutChannels = outIndices.Select(i => baseChannels * (1 << i) * expansion).ToArray();

        InitWeights(zeroInitResidual);
        FreezeStages();
    }

    /// <summary>CNTK's "same" padding of a stride-2 3×3 window on an even size: (left, right, top, bottom).</summary>
    private static readonly long[] CntkStride2Pad = [1, 0, 1, 0];

    /// <summary>CNTK's "same" padding of the stride-2 7×7 stem conv on an even size.</summary>
    private static readonly long[] CntkStemPad = [3, 2, 3, 2];

    private readonly bool _cntkPadding;

    /// <summary>Residual blocks in each stage (from the depth, or <c>stage_blocks</c>).</summary>
    public int[] StageBlocks { get; }

    /// <summary>Channels of each returned feature map.</summary>
    public int[] OutChannels { get; }

    /// <summary>The <c>pretrained</c> argument (deprecated in MMDetection; becomes a 'Pretrained' <see cref="InitCfg"/>).</summary>
    public string? PretrainedHint { get; }

    /// <summary>The <c>init_cfg</c> as given; <see cref="PretrainedInit.InitWeights"/> loads its 'Pretrained' entry.</summary>
    public object? InitCfg { get; }

    private static nn.Module<Tensor, Tensor> MakeDownsample(long inplanes, long outplanes, int stride, bool avgDown, ConfigDict normCfg)
    {
        var (_, norm) = NormLayers.Build(normCfg, outplanes);
        if (avgDown)
        {
            return nn.Sequential(
                ("0", nn.AvgPool2d(stride, stride, ceil_mode: true, count_include_pad: false)),
                ("1", nn.Conv2d(inplanes, outplanes, 1, bias: false)),
                ("2", (nn.Module<Tensor, Tensor>)norm));
        }
        return nn.Sequential(("0", nn.Conv2d(inplanes, outplanes, 1, stride: stride, bias: false)), ("1", (nn.Module<Tensor, Tensor>)norm));
    }

    private void InitWeights(bool zeroInitResidual)
    {
        foreach (var (_, m) in named_modules())
        {
            if (m is TorchSharp.Modules.Conv2d) ModuleTools.KaimingInit(m);
            else if (NormLayers.IsBatchNorm(m) || m is TorchSharp.Modules.GroupNorm) ModuleTools.ConstantInit(m, 1);
        }
        if (!zeroInitResidual) return;
        foreach (var (_, m) in named_modules())
        {
            if (m is Bottleneck bt) ModuleTools.ConstantInit(bt.LastNorm, 0);
            else if (m is BasicBlock bb) ModuleTools.ConstantInit(bb.LastNorm, 0);
        }
    }

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
        if (train && _normEval)
        {
            foreach (var (_, m) in named_modules())
                if (NormLayers.IsBatchNorm(m)) m.eval();
        }
    }

    public override Tensor[] forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        Tensor h;
        if (_stem is not null) h = _stem.forward(x);
        else h = nn.functional.relu(_bn1!.forward(_conv1!.forward(_cntkPadding ? nn.functional.pad(x, CntkStemPad) : x)));
        h = _cntkPadding
            ? nn.functional.max_pool2d(nn.functional.pad(h, CntkStride2Pad, value: double.NegativeInfinity), 3, stride: 2)
            : nn.functional.max_pool2d(h, 3, stride: 2, padding: 1);
        var outs = new List<Tensor>();
        for (int i = 0; i < _layers.Count; i++)
        {
            h = _layers[i].forward(h);
            if (_outIndices.Contains(i)) outs.Add(h);
        }
        foreach (var o in outs) o.MoveToOuterDisposeScope();
        return outs.ToArray();
    }
}

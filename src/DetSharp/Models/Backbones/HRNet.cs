using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Models.Weights;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Backbones;

/// <summary>
/// MMDetection's <c>HRNet</c> backbone (HRNetV2): a stem of two stride-2 3×3 convs (64 channels, <c>conv1</c>/<c>bn1</c>,
/// <c>conv2</c>/<c>bn2</c>), <c>layer1</c> (stage 1: one residual layer), then stages 2–4, each of
/// <c>num_modules</c> <see cref="HRModule"/>s (<c>stage2..stage4</c>) over 2, 3, 4 parallel branches of halving
/// resolution. <c>transition1..3</c> adapt the previous stage's branches: a 3×3 conv + norm + ReLU where the channels
/// change (nothing where they do not) and, for each new branch, stride-2 3×3 convs from the coarsest previous branch.
/// <c>extra</c> holds <c>stage1..stage4</c>, each with <c>num_modules</c>, <c>num_branches</c>, <c>block</c>
/// ('BASIC'/'BOTTLENECK'), <c>num_blocks</c> and <c>num_channels</c> (one entry per branch; stage 1 uses its first).
/// Returns stage 4's branches, finest first (strides 4, 8, 16, 32), or only the finest with
/// <c>multiscale_output=False</c>. <c>norm_eval</c> keeps every BatchNorm in eval mode while training.
/// Init as MMDetection's default <c>init_cfg</c>: Kaiming (fan_out, relu) convs, norm weight 1 bias 0.
/// <c>zero_init_residual</c> is accepted and, as in MMDetection 2.28, changes nothing: its blocks get the zero init only
/// when the module has no <c>init_cfg</c> attribute, which mmcv's BaseModule always sets. <c>with_cp</c> only saves
/// memory (results are the same without it). MMDetection's HRNet has no <c>frozen_stages</c>.
/// </summary>
[Register(Registries.ModelsName, "HRNet")]
public sealed class HRNet : nn.Module<Tensor, Tensor[]>, IHasInitCfg
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private const int StemChannels = 64;

    /// <summary>One <c>extra.stageN</c> dict.</summary>
    private sealed record StageCfg(int NumModules, int NumBranches, HRNetBlock Block, int[] NumBlocks, int[] NumChannels)
    {
        public int[] OutChannels => NumChannels.Select(c => c * Block.Expansion()).ToArray();
    }

    private readonly nn.Module<Tensor, Tensor> _conv1, _norm1, _conv2, _norm2, _layer1;
    private readonly OptionalModuleList<nn.Module<Tensor, Tensor>>[] _transitions = new OptionalModuleList<nn.Module<Tensor, Tensor>>[3];
    private readonly List<HRModule>[] _stages = [[], [], []];
    private readonly bool _normEval;

    public HRNet(
        ConfigDict extra,
        int inChannels = 3,
        ConfigDict? convCfg = null,
        ConfigDict? normCfg = null,
        bool normEval = true,
        bool withCp = false,
        bool zeroInitResidual = false,
        bool multiscaleOutput = true,
        string? pretrained = null,
        object? initCfg = null)
        : base(nameof(HRNet))
    {
        if (convCfg is not null) throw new DetSharpException("HRNet: conv_cfg is not supported (only plain convolutions).");
        if (initCfg is not null && pretrained is not null)
            throw new DetSharpException("HRNet: init_cfg and pretrained cannot be specified at the same time; keep init_cfg.");
        _ = withCp; // gradient checkpointing only saves memory
        _ = zeroInitResidual; // a no-op in MMDetection 2.28 (see the summary)
        // MMDetection turns the deprecated `pretrained=X` into init_cfg=dict(type='Pretrained', checkpoint=X).
        InitCfg = initCfg ?? (pretrained is null ? null : new ConfigDict { { "type", "Pretrained" }, { "checkpoint", pretrained } });
        normCfg ??= NormLayers.DefaultBn();
        _normEval = normEval;
        var stages = Enumerable.Range(1, 4).Select(i => ParseStage(extra, i)).ToArray();

        _conv1 = nn.Conv2d(inChannels, StemChannels, 3, stride: 2, padding: 1, bias: false);
        register_module("conv1", _conv1);
        (var n1, var norm1) = NormLayers.Build(normCfg, StemChannels, "1");
        _norm1 = (nn.Module<Tensor, Tensor>)norm1;
        register_module(n1, norm1);
        _conv2 = nn.Conv2d(StemChannels, StemChannels, 3, stride: 2, padding: 1, bias: false);
        register_module("conv2", _conv2);
        (var n2, var norm2) = NormLayers.Build(normCfg, StemChannels, "2");
        _norm2 = (nn.Module<Tensor, Tensor>)norm2;
        register_module(n2, norm2);

        var s1 = stages[0];
        _layer1 = HRNetBlocks.MakeLayer(s1.Block, StemChannels, s1.NumChannels[0], s1.NumBlocks[0], normCfg);
        register_module("layer1", _layer1);

        int[] pre = [s1.NumChannels[0] * s1.Block.Expansion()];
        for (int s = 0; s < 3; s++)
        {
            var cfg = stages[s + 1];
            var cur = cfg.OutChannels;
            if (cur.Length < pre.Length)
                throw new DetSharpException($"HRNet: extra.stage{s + 2}.num_branches ({cur.Length}) is below stage{s + 1}'s ({pre.Length}); each stage keeps the previous branches.");
            // MMDetection's forward feeds every stage-3/4 transition the coarsest previous branch, so a transition that
            // changes an existing branch's channels cannot work there (it fails on the shapes); refuse it up front.
            if (s > 0 && Enumerable.Range(0, pre.Length).FirstOrDefault(i => cur[i] != pre[i], -1) is var changed and >= 0)
            {
                throw new DetSharpException(
                    $"HRNet: extra.stage{s + 2} gives branch {changed} {cur[changed]} output channels where stage{s + 1} gives {pre[changed]}; "
                    + "MMDetection's HRNet cannot change an existing branch's channels after stage 2 — keep them equal.");
            }
            _transitions[s] = MakeTransition(pre, cur, normCfg);
            register_module($"transition{s + 1}", _transitions[s]);
            for (int m = 0; m < cfg.NumModules; m++)
            {
                // multiscale_output applies to the last module of the last stage only.
                bool multiscale = multiscaleOutput || s < 2 || m < cfg.NumModules - 1;
                _stages[s].Add(new HRModule(cfg.NumBranches, cfg.Block, cfg.NumBlocks, cur, cfg.NumChannels, multiscale, normCfg));
            }
            // A Sequential in MMDetection; a ModuleList here (same keys), as TorchSharp's Sequential chains tensors only.
            register_module($"stage{s + 2}", nn.ModuleList(_stages[s].ToArray()));
            pre = cur;
        }
        OutChannels = multiscaleOutput ? pre : [pre[0]];

        foreach (var (_, m) in named_modules())
        {
            if (m is TorchSharp.Modules.Conv2d) ModuleTools.KaimingInit(m);
            else if (NormLayers.IsBatchNorm(m) || m is TorchSharp.Modules.GroupNorm) ModuleTools.ConstantInit(m, 1);
        }
    }

    /// <summary>Channels of each returned feature map.</summary>
    public int[] OutChannels { get; }

    /// <summary>The <c>init_cfg</c> as given (or from <c>pretrained</c>); <see cref="PretrainedInit.InitWeights"/> loads its 'Pretrained' entry.</summary>
    public object? InitCfg { get; }

    private static StageCfg ParseStage(ConfigDict extra, int index)
    {
        string key = $"stage{index}";
        if (!extra.TryGetValue(key, out var v) || v is not ConfigDict stage)
            throw new DetSharpException($"HRNet: extra.{key} is missing; extra needs the dicts stage1, stage2, stage3 and stage4.");
        foreach (var k in new[] { "num_modules", "num_branches", "block", "num_blocks", "num_channels" })
        {
            if (!stage.ContainsKey(k))
                throw new DetSharpException($"HRNet: extra.{key}.{k} is missing; each stage needs num_modules, num_branches, block, num_blocks and num_channels.");
        }
        var cfg = new StageCfg(
            stage.Get<int>("num_modules"),
            stage.Get<int>("num_branches"),
            HRNetBlocks.Parse(stage.Get<string>("block"), $"extra.{key}.block"),
            stage.Get<int[]>("num_blocks"),
            stage.Get<int[]>("num_channels"));
        if (cfg.NumBlocks.Length != cfg.NumBranches || cfg.NumChannels.Length != cfg.NumBranches)
        {
            throw new DetSharpException(
                $"HRNet: extra.{key} has num_branches={cfg.NumBranches} but {cfg.NumBlocks.Length} num_blocks and {cfg.NumChannels.Length} num_channels; give one of each per branch.");
        }
        if (cfg.NumModules < 1 || cfg.NumBranches < 1 || cfg.NumBlocks.Any(b => b < 1) || cfg.NumChannels.Any(c => c < 1))
            throw new DetSharpException($"HRNet: extra.{key} needs positive num_modules, num_branches, num_blocks and num_channels.");
        return cfg;
    }

    /// <summary>MMDetection's <c>_make_transition_layer</c> from <paramref name="pre"/> branches to <paramref name="cur"/>.</summary>
    private static OptionalModuleList<nn.Module<Tensor, Tensor>> MakeTransition(int[] pre, int[] cur, ConfigDict normCfg)
    {
        var items = new List<nn.Module<Tensor, Tensor>?>();
        for (int i = 0; i < cur.Length; i++)
        {
            if (i < pre.Length)
            {
                items.Add(cur[i] == pre[i] ? null : ConvNormRelu(pre[i], cur[i], 1, normCfg));
                continue;
            }
            // A new branch: i + 1 − len(pre) stride-2 convs from the coarsest previous branch, the last one to cur[i].
            var steps = new List<(string, nn.Module<Tensor, Tensor>)>();
            for (int j = 0; j <= i - pre.Length; j++)
            {
                int cin = pre[^1];
                int cout = j == i - pre.Length ? cur[i] : cin;
                steps.Add((j.ToString(System.Globalization.CultureInfo.InvariantCulture), ConvNormRelu(cin, cout, 2, normCfg)));
            }
            items.Add(nn.Sequential(steps.ToArray()));
        }
        return new OptionalModuleList<nn.Module<Tensor, Tensor>>(items);
    }

    private static nn.Module<Tensor, Tensor> ConvNormRelu(int cin, int cout, int stride, ConfigDict normCfg) => nn.Sequential(
        ("0", nn.Conv2d(cin, cout, 3, stride: stride, padding: 1, bias: false)),
        ("1", (nn.Module<Tensor, Tensor>)NormLayers.Build(normCfg, cout).Layer),
        ("2", nn.ReLU()));

    /// <summary>Train mode; with <c>norm_eval</c> every BatchNorm stays in eval mode.</summary>
    public override void train(bool train = true)
    {
        base.train(train);
        if (train && _normEval) NormLayers.EvalBatchNorms(this);
    }

    public override Tensor[] forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = nn.functional.relu(_norm1.forward(_conv1.forward(x)));
        h = nn.functional.relu(_norm2.forward(_conv2.forward(h)));
        Tensor[] ys = [_layer1.forward(h)];
        for (int s = 0; s < 3; s++)
        {
            var transition = _transitions[s];
            // Existing branches pass (adapted) into the stage; new ones start from the coarsest previous output.
            var xs = Enumerable.Range(0, transition.Count)
                .Select(i => transition[i] is { } t ? t.forward(i < ys.Length ? ys[i] : ys[^1]) : ys[i])
                .ToArray();
            foreach (var module in _stages[s]) xs = module.forward(xs);
            ys = xs;
        }
        foreach (var y in ys) y.MoveToOuterDisposeScope();
        return ys;
    }
}

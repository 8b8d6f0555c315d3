using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Necks;

/// <summary>
/// MMDetection's <c>FPG</c> (Feature Pyramid Grids, Chen et al. 2020): plain 1×1 <c>lateral_convs</c>, extra levels by
/// a stride-2 3×3 conv (<c>add_extra_convs</c>) or 1×1 max pooling with stride 2, then <c>stack_times</c> pathways
/// (<c>paths</c>: 'bu' bottom-up or 'td' top-down), each level of a pathway the sum of its configured transitions:
/// <c>same_up</c>/<c>same_down</c> from the level just computed in this pathway, <c>across_lateral</c> from the same
/// level of the previous pathway, <c>across_down</c>/<c>across_up</c> from its neighbours there, <c>across_skip</c> from
/// the laterals; levels listed in <c>skip_inds</c> pass the previous pathway's map through. Every level's output is
/// <c>output_transition</c> of the last pathway's map. Conv2d layers are initialised as mmcv's Caffe2Xavier (FPG's
/// <c>init_cfg</c>, which runs after ConvModule's own Kaiming init and so wins), norms as constant 1.
/// </summary>
[Register(Registries.ModelsName, "FPG")]
public sealed class FPG : nn.Module<Tensor[], Tensor[]>, Weights.IHasInitCfg
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private static readonly string[] TransitionNames = ["same_up", "same_down", "across_lateral", "across_down", "across_up", "across_skip"];

    private readonly int _numIns;
    private readonly int _numOuts;
    private readonly int _startLevel;
    private readonly string[] _paths;
    private readonly int[][] _skipInds;
    private readonly List<TorchSharp.Modules.Conv2d> _lateralConvs = [];
    private readonly List<nn.Module<Tensor, Tensor>> _extraDownsamples = [];
    // [stage][level]: the transitions by name (absent = None); an empty dict for a skipped level.
    private readonly List<List<Dictionary<string, nn.Module<Tensor, Tensor>>>> _transitions = [];
    private readonly List<nn.Module<Tensor, Tensor>> _outputTransitions = [];

    public FPG(int[] inChannels, int outChannels, int numOuts, int stackTimes, string[] paths, object? interChannels = null,
        ConfigOptional<ConfigDict> sameDownTrans = default, ConfigOptional<ConfigDict> sameUpTrans = default,
        ConfigOptional<ConfigDict> acrossLateralTrans = default, ConfigOptional<ConfigDict> acrossDownTrans = default,
        ConfigOptional<ConfigDict> acrossUpTrans = default, ConfigOptional<ConfigDict> acrossSkipTrans = default,
        ConfigOptional<ConfigDict> outputTrans = default, int startLevel = 0, int endLevel = -1, bool addExtraConvs = false,
        ConfigDict? normCfg = null, int[][]? skipInds = null, object? initCfg = null)
        : base(nameof(FPG))
    {
        _ = normCfg; // FPG only uses it for with_bias, which nothing reads; the transitions carry their own norm_cfg.
        InitCfg = initCfg;
        _numIns = inChannels.Length;
        _numOuts = numOuts;
        _startLevel = startLevel;
        int[] inter = InterChannels(interChannels, outChannels, numOuts);
        if (paths.Length != stackTimes)
            throw new DetSharpException($"FPG: paths has {paths.Length} entries but stack_times is {stackTimes}; give one 'bu' or 'td' per stack.");
        foreach (var p in paths)
            if (p is not ("bu" or "td")) throw new DetSharpException($"FPG: paths entry '{p}' must be 'bu' (bottom-up) or 'td' (top-down).");
        _paths = paths;
        var acrossSkip = acrossSkipTrans.Or(new ConfigDict { ["type"] = "identity" });
        if (skipInds is null)
            throw new DetSharpException("FPG: skip_inds is required (one tuple of skipped stack indices per output level), as MMDetection's FPG indexes it.");
        if (skipInds.Length < numOuts)
            throw new DetSharpException($"FPG: skip_inds has {skipInds.Length} entries; give one per output level ({numOuts}).");
        if (skipInds[0].Length > stackTimes)
            throw new DetSharpException($"FPG: skip_inds[0] lists {skipInds[0].Length} stacks but stack_times is {stackTimes}.");
        _skipInds = skipInds;
        int backboneEndLevel = FPN.BackboneEndLevelOf("FPG", _numIns, startLevel, endLevel, numOuts);

        for (int i = startLevel; i < backboneEndLevel; i++)
            _lateralConvs.Add(nn.Conv2d(inChannels[i], inter[i - startLevel], 1));
        int extraLevels = numOuts - backboneEndLevel + startLevel;
        for (int i = 0; i < extraLevels; i++)
        {
            int fpnIdx = backboneEndLevel - startLevel + i;
            _extraDownsamples.Add(addExtraConvs
                ? nn.Conv2d(inter[fpnIdx - 1], inter[fpnIdx], 3, stride: 2, padding: 1)
                : nn.MaxPool2d(1, 2));
        }

        var sameUp = sameUpTrans.Or(new ConfigDict { ["type"] = "conv", ["kernel_size"] = 3L, ["stride"] = 2L, ["padding"] = 1L });
        var sameDown = sameDownTrans.Value;
        var acrossLateral = acrossLateralTrans.Or(new ConfigDict { ["type"] = "conv", ["kernel_size"] = 1L });
        var acrossDown = acrossDownTrans.Or(new ConfigDict { ["type"] = "conv", ["kernel_size"] = 3L });
        var acrossUp = acrossUpTrans.Value;
        var stages = new List<nn.Module>();
        for (int s = 0; s < stackTimes; s++)
        {
            var levels = new List<Dictionary<string, nn.Module<Tensor, Tensor>>>();
            var levelModules = new List<nn.Module>();
            for (int i = 0; i < numOuts; i++)
            {
                var trans = new Dictionary<string, nn.Module<Tensor, Tensor>>();
                if (!skipInds[i].Contains(s))
                {
                    string where = $"neck.fpn_transitions.{s}.{i}";
                    if (i > 0 && sameUp is not null) trans["same_up"] = FPGTransition.Build(sameUp, inter[i - 1], inter[i], $"{where}.same_up");
                    if (i < numOuts - 1 && sameDown is not null) trans["same_down"] = FPGTransition.Build(sameDown, inter[i + 1], inter[i], $"{where}.same_down");
                    if (acrossLateral is not null) trans["across_lateral"] = FPGTransition.Build(acrossLateral, inter[i], inter[i], $"{where}.across_lateral");
                    if (i < numOuts - 1 && acrossDown is not null) trans["across_down"] = FPGTransition.Build(acrossDown, inter[i + 1], inter[i], $"{where}.across_down");
                    if (i > 0 && acrossUp is not null) trans["across_up"] = FPGTransition.Build(acrossUp, inter[i - 1], inter[i], $"{where}.across_up");
                    // MMDetection builds it from inter_channels[i - 1], Python's last entry for level 0.
                    if (acrossSkip is not null) trans["across_skip"] = FPGTransition.Build(acrossSkip, inter[(i - 1 + numOuts) % numOuts], inter[i], $"{where}.across_skip");
                }

                levels.Add(trans);
                var dict = nn.ModuleDict<nn.Module>();
                foreach (var name in TransitionNames)
                    if (trans.TryGetValue(name, out var m)) dict.Add((name, m));
                levelModules.Add(dict);
            }

            _transitions.Add(levels);
            stages.Add(nn.ModuleList(levelModules.ToArray()));
        }

        var output = outputTrans.Or(new ConfigDict { ["type"] = "last_conv", ["kernel_size"] = 3L })
            ?? throw new DetSharpException("FPG: output_trans must be a transition dict (e.g. dict(type='last_conv', kernel_size=3)).");
        for (int i = 0; i < numOuts; i++)
            _outputTransitions.Add(FPGTransition.Build(output, inter[i], outChannels, $"neck.output_transition.{i}"));

        register_module("lateral_convs", nn.ModuleList(_lateralConvs.ToArray()));
        register_module("extra_downsamples", nn.ModuleList(_extraDownsamples.ToArray()));
        register_module("fpn_transitions", nn.ModuleList(stages.ToArray()));
        register_module("output_transition", nn.ModuleList(_outputTransitions.ToArray()));
        foreach (var (_, m) in named_modules())
        {
            if (m is TorchSharp.Modules.Conv2d) ModuleTools.Caffe2XavierInit(m);
            else if (NormLayers.IsBatchNorm(m) || m is TorchSharp.Modules.GroupNorm) ModuleTools.ConstantInit(m, 1);
        }
    }

    /// <summary>The <c>init_cfg</c> as given.</summary>
    public object? InitCfg { get; }

    private static int[] InterChannels(object? interChannels, int outChannels, int numOuts)
    {
        switch (interChannels)
        {
            case null: return Enumerable.Repeat(outChannels, numOuts).ToArray();
            case long c: return Enumerable.Repeat((int)c, numOuts).ToArray();
            case List<object?> list when list.Count == numOuts && list.All(v => v is long):
                return list.Select(v => (int)(long)v!).ToArray();
            default:
                throw new DetSharpException($"FPG: inter_channels must be None, an int or a list of {numOuts} ints (one per output level).");
        }
    }

    public override Tensor[] forward(Tensor[] inputs)
    {
        if (inputs.Length != _numIns)
            throw new ArgumentException($"FPG expects {_numIns} input maps, got {inputs.Length}.");
        using var scope = NewDisposeScope();
        var feats = new List<Tensor>();
        for (int i = 0; i < _lateralConvs.Count; i++) feats.Add(_lateralConvs[i].forward(inputs[i + _startLevel]));
        foreach (var down in _extraDownsamples) feats.Add(down.forward(feats[^1]));

        var outs = new List<Tensor[]> { feats.ToArray() };
        for (int s = 0; s < _paths.Length; s++)
        {
            var current = outs[^1];
            bool topDown = _paths[s] == "td";
            var next = new List<Tensor>(_numOuts);
            for (int j = 0; j < _numOuts; j++)
            {
                // MMDetection tests the skip with the loop index j, and passes the previous pathway's map j through.
                if (_skipInds[j].Contains(s))
                {
                    next.Add(current[j]);
                    continue;
                }

                int lvl = topDown ? _numOuts - j - 1 : j;
                var trans = _transitions[s][lvl];
                Tensor? sum = null;
                void Fuse(Tensor t) => sum = sum is null ? t : sum + t;
                if (trans.TryGetValue(topDown ? "same_down" : "same_up", out var same)) Fuse(same.forward(next[^1]));
                if (trans.TryGetValue("across_lateral", out var lateral)) Fuse(lateral.forward(current[lvl]));
                if (lvl > 0 && trans.TryGetValue("across_up", out var up)) Fuse(up.forward(current[lvl - 1]));
                if (lvl < _numOuts - 1 && trans.TryGetValue("across_down", out var down)) Fuse(down.forward(current[lvl + 1]));
                if (trans.TryGetValue("across_skip", out var skip)) Fuse(skip.forward(outs[0][lvl]));
                next.Add(sum ?? throw new DetSharpException($"FPG: level {lvl} of stack {s} has no transition to compute it from; configure at least across_lateral_trans."));
            }

            if (topDown) next.Reverse();
            outs.Add(next.ToArray());
        }

        var result = new Tensor[_numOuts];
        for (int i = 0; i < _numOuts; i++) result[i] = _outputTransitions[i].forward(outs[^1][i]).MoveToOuterDisposeScope();
        return result;
    }
}

/// <summary>
/// FPG's transitions (its <c>transition_types</c>): <c>conv</c> (an mmcv ConvModule), <c>interpolation_conv</c>
/// (<c>UpInterpolationConv</c>: interpolate by <c>scale_factor</c>, then a ConvModule named <c>conv</c>),
/// <c>last_conv</c> (<c>LastConv</c>: a ConvModule named <c>conv_out</c> over the last pathway's map). MMDetection's own
/// default <c>across_skip_trans=dict(type='identity')</c> is not among them, so FPG refuses it as MMDetection does.
/// </summary>
internal static class FPGTransition
{
    public static nn.Module<Tensor, Tensor> Build(ConfigDict cfg, int inChannels, int outChannels, string where)
    {
        string type = cfg.Get<string>("type", "");
        switch (type)
        {
            case "conv":
                return ConvModuleOf(cfg, inChannels, outChannels, where, samePadding: false);
            case "interpolation_conv":
                return new UpInterpolationConv(cfg, inChannels, outChannels, where);
            case "last_conv":
                return new LastConv(ConvModuleOf(cfg, inChannels, outChannels, where, samePadding: true));
            default:
                throw new DetSharpException($"{where}: FPG transition type '{type}' is not one of conv, interpolation_conv, last_conv (MMDetection's FPG has no other).");
        }
    }

    /// <summary>A ConvModule from a transition dict (mmcv's keyword arguments, <see cref="ConvModule.FromConfig"/>), its
    /// padding (k − 1) / 2 for <c>interpolation_conv</c> and <c>last_conv</c> as MMDetection sets it.</summary>
    internal static ConvModule ConvModuleOf(ConfigDict cfg, int inChannels, int outChannels, string where, bool samePadding)
    {
        var args = cfg.Clone();
        foreach (var key in new[] { "type", "scale_factor", "mode", "align_corners" }) args.Remove(key);
        args["in_channels"] = (long)inChannels;
        args["out_channels"] = (long)outChannels;
        if (samePadding)
        {
            // UpInterpolationConv and LastConv default kernel_size to 3 and set the padding themselves.
            if (!args.ContainsKey("kernel_size")) args["kernel_size"] = 3L;
            args["padding"] = (args.Get<long>("kernel_size") - 1) / 2;
        }

        bool actFirst = args.TryGet<string[]>("order", out var order) && order.Length > 0 && order[0] == "act";
        bool activates = !args.TryGetValue("act_cfg", out var act) || act is not null;
        // An in-place activation that runs first would overwrite the map the other transitions still read.
        if (actFirst && activates && args.Get("inplace", true))
            throw new DetSharpException($"{where}: order=('act', 'conv', 'norm') with inplace=True changes the input other transitions read in MMDetection; set inplace=False as the fpg configs do.");
        return ConvModule.FromConfig(args);
    }

    /// <summary>mmdet's <c>UpInterpolationConv</c>: upsample by <c>scale_factor</c> (default 2), then <c>conv</c>.</summary>
    private sealed class UpInterpolationConv : nn.Module<Tensor, Tensor>
    {
        protected override void RegisterComponents()
        {
        }

        private readonly ConvModule _conv;
        private readonly double _scale;
        private readonly InterpolationMode _mode;
        private readonly bool? _alignCorners;

        public UpInterpolationConv(ConfigDict cfg, int inChannels, int outChannels, string where)
            : base(nameof(UpInterpolationConv))
        {
            _scale = cfg.Get<double>("scale_factor", 2);
            string mode = cfg.Get("mode", "nearest");
            _mode = mode switch
            {
                "nearest" => InterpolationMode.Nearest,
                "bilinear" => InterpolationMode.Bilinear,
                _ => throw new DetSharpException($"{where}: interpolation mode '{mode}' is not supported (nearest, bilinear)."),
            };
            _alignCorners = cfg.TryGetValue("align_corners", out var ac) && ac is bool a ? a : null;
            _conv = ConvModuleOf(cfg, inChannels, outChannels, where, samePadding: true);
            register_module("conv", _conv);
        }

        public override Tensor forward(Tensor x) =>
            _conv.forward(nn.functional.interpolate(x, scale_factor: [_scale, _scale], mode: _mode, align_corners: _alignCorners));
    }

    /// <summary>mmdet's <c>LastConv</c>: <c>conv_out</c> over the last pathway's map.</summary>
    private sealed class LastConv : nn.Module<Tensor, Tensor>
    {
        protected override void RegisterComponents()
        {
        }

        private readonly ConvModule _convOut;

        public LastConv(ConvModule convOut)
            : base(nameof(LastConv))
        {
            _convOut = convOut;
            register_module("conv_out", _convOut);
        }

        public override Tensor forward(Tensor x) => _convOut.forward(x);
    }
}

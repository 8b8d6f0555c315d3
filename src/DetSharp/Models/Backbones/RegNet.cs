using DetSharp.Config;
using DetSharp.Registry;

namespace DetSharp.Models.Backbones;

/// <summary>
/// MMDetection's <c>RegNet</c> (RegNetX): a ResNet whose stem is one 3×3 stride-2 conv (<c>conv1</c>, <c>bn1</c>, no
/// max-pool), whose stages are ResNeXt <see cref="Bottleneck"/>s with expansion 1 and whose widths, blocks and groups
/// come from <c>arch</c>: a name ('regnetx_400mf' ... 'regnetx_12gf') or a dict of w0, wa, wm, group_w, depth,
/// bot_mul, quantised as MMDetection does (<see cref="RegNetWidths"/>). Defaults: stem_channels 32, strides (2, 2, 2, 2).
/// </summary>
[Register(Registries.ModelsName, "RegNet")]
public sealed class RegNet : ResNet
{
    /// <param name="arch">An architecture name of <see cref="RegNetWidths.Settings"/> or a dict with w0, wa, wm, group_w, depth, bot_mul.</param>
    /// <param name="args">MMDetection's ResNet arguments (RegNet has no num_stages: <c>arch</c> gives it).</param>
    public RegNet(object arch, [InheritedArguments] ResNetArguments? args = null)
        : base(PlanOf(RegNetWidths.From(arch), args ?? new ResNetArguments()))
    {
    }

    private static Plan PlanOf(RegNetWidths w, ResNetArguments a)
    {
        if (a.NumStages is not null)
            throw new DetSharpException($"RegNet: num_stages is set by arch ({w.StageWidths.Length} stages here); remove 'num_stages' from the backbone config.");
        if (a.DeepStem == true)
            throw new DetSharpException("RegNet: deep_stem is not available (RegNet's stem is one 3×3 conv); remove 'deep_stem' from the backbone config.");
        int n = w.StageWidths.Length;
        a = WithResNetDefaults(a with
        {
            NumStages = n,
            StemChannels = a.StemChannels ?? 32,
            BaseChannels = a.BaseChannels ?? 32,
            Strides = a.Strides ?? [2, 2, 2, 2],
        });
        if (a.Strides!.Length != n || a.Dilations!.Length != n)
            throw new DetSharpException($"RegNet: arch has {n} stages, so strides and dilations need {n} entries each.");
        return new Plan("RegNet", a, StemKind.RegNet, w.StageWidths.Select(x => (long)x).ToArray(), w.StageBlocks, 1,
            (stage, b) =>
            {
                int groupWidth = w.GroupWidths[stage];
                int groups = (int)Math.Round(w.StageWidths[stage] * w.BottleneckRatio, MidpointRounding.ToEven) / groupWidth;
                return new Bottleneck(b.Inplanes, b.Planes, b.Stride, b.Dilation, b.Downsample, b.Style, b.NormCfg,
                    Bottleneck.Width(b.Planes, groups, groupWidth, w.StageWidths[stage]), groups, expansion: 1, dcn: b.Dcn, convCfg: b.ConvCfg, plugins: b.Plugins);
            }, BlocksTakeDcn: true, BlocksTakeConvCfg: true, BlocksTakePlugins: true);
    }
}

/// <summary>
/// RegNet's per-stage widths, blocks and group widths from its arch parameters, as MMDetection computes them
/// (<c>generate_regnet</c>, <c>get_stages_from_blocks</c>, <c>adjust_width_group</c>): block j's continuous width
/// w0 + wa·j is snapped to w0·wm^k (k rounded) and to a multiple of 8; runs of equal widths form the stages; each
/// stage's bottleneck width is rounded to a multiple of its group width (capped at the bottleneck width). Rounding is
/// half-to-even throughout, as numpy's and Python's <c>round</c>.
/// </summary>
public sealed record RegNetWidths(int[] StageWidths, int[] StageBlocks, int[] GroupWidths, double BottleneckRatio)
{
    /// <summary>MMDetection's named RegNetX architectures: (w0, wa, wm, group_w, depth, bot_mul).</summary>
    public static readonly IReadOnlyDictionary<string, (int W0, double Wa, double Wm, int GroupW, int Depth, double BotMul)> Settings =
        new Dictionary<string, (int, double, double, int, int, double)>(StringComparer.Ordinal)
        {
            ["regnetx_400mf"] = (24, 24.48, 2.54, 16, 22, 1.0),
            ["regnetx_800mf"] = (56, 35.73, 2.28, 16, 16, 1.0),
            ["regnetx_1.6gf"] = (80, 34.01, 2.25, 24, 18, 1.0),
            ["regnetx_3.2gf"] = (88, 26.31, 2.25, 48, 25, 1.0),
            ["regnetx_4.0gf"] = (96, 38.65, 2.43, 40, 23, 1.0),
            ["regnetx_6.4gf"] = (184, 60.83, 2.07, 56, 17, 1.0),
            ["regnetx_8.0gf"] = (80, 49.56, 2.88, 120, 23, 1.0),
            ["regnetx_12gf"] = (168, 73.36, 2.37, 112, 19, 1.0),
        };

    private const int Divisor = 8;

    /// <summary>From an arch name or dict (w0, wa, wm, group_w, depth, bot_mul).</summary>
    public static RegNetWidths From(object arch)
    {
        switch (arch)
        {
            case string name when Settings.TryGetValue(name, out var s):
                return Compute(s.W0, s.Wa, s.Wm, s.GroupW, s.Depth, s.BotMul);
            case string name:
                throw new DetSharpException($"RegNet: arch '{name}' is not one of {string.Join(", ", Settings.Keys)}; or give a dict of w0, wa, wm, group_w, depth, bot_mul.");
            case ConfigDict d:
                string[] keys = ["w0", "wa", "wm", "group_w", "depth", "bot_mul"];
                if (keys.FirstOrDefault(k => !d.ContainsKey(k)) is { } missing)
                    throw new DetSharpException($"RegNet: arch dict lacks '{missing}' (it needs {string.Join(", ", keys)}).");
                if (d.Keys.FirstOrDefault(k => !keys.Contains(k)) is { } extra)
                    throw new DetSharpException($"RegNet: arch dict has an unknown key '{extra}' (it takes {string.Join(", ", keys)}).");
                return Compute(d.Get<int>("w0"), d.Get<double>("wa"), d.Get<double>("wm"), d.Get<int>("group_w"), d.Get<int>("depth"), d.Get<double>("bot_mul"));
            default:
                throw new DetSharpException($"RegNet: arch must be a name or a dict, got {arch?.GetType().Name ?? "None"}.");
        }
    }

    public static RegNetWidths Compute(int w0, double wa, double wm, int groupW, int depth, double botMul)
    {
        if (wa < 0 || w0 <= 0 || wm <= 1 || w0 % Divisor != 0 || depth < 1 || groupW < 1 || botMul <= 0)
            throw new DetSharpException($"RegNet: arch needs wa >= 0, w0 > 0 and a multiple of {Divisor}, wm > 1, depth, group_w and bot_mul positive; got w0={w0}, wa={wa}, wm={wm}, group_w={groupW}, depth={depth}, bot_mul={botMul}.");
        var widths = new int[depth];
        for (int j = 0; j < depth; j++)
        {
            double cont = j * wa + w0;
            double k = Math.Round(Math.Log(cont / w0) / Math.Log(wm), MidpointRounding.ToEven);
            widths[j] = (int)(Math.Round(w0 * Math.Pow(wm, k) / Divisor, MidpointRounding.ToEven) * Divisor);
        }
        var stageWidths = new List<int>();
        var stageBlocks = new List<int>();
        for (int j = 0; j < depth; j++)
        {
            if (j == 0 || widths[j] != widths[j - 1])
            {
                stageWidths.Add(widths[j]);
                stageBlocks.Add(0);
            }
            stageBlocks[^1]++;
        }
        int n = stageWidths.Count;
        if (n > 4)
            throw new DetSharpException($"RegNet: arch gives {n} stages (widths {string.Join(", ", stageWidths)}); at most 4 are supported.");
        var groupWidths = new int[n];
        for (int i = 0; i < n; i++)
        {
            int bottleneck = (int)(stageWidths[i] * botMul);
            groupWidths[i] = Math.Min(groupW, bottleneck);
            bottleneck = (int)(Math.Round((double)bottleneck / groupWidths[i], MidpointRounding.ToEven) * groupWidths[i]);
            stageWidths[i] = (int)(bottleneck / botMul);
        }
        return new RegNetWidths([.. stageWidths], [.. stageBlocks], groupWidths, botMul);
    }
}

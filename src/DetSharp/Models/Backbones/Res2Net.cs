using DetSharp.Registry;

namespace DetSharp.Models.Backbones;

/// <summary>
/// MMDetection's <c>Res2Net</c> (depth 50/101/152): ResNet with <see cref="Bottle2neck"/> blocks of <c>scales</c>
/// splits of <c>base_width</c> channels (at <c>base_channels</c> planes), always with the deep stem, avg_down shortcuts
/// (mmdet's <c>Res2Layer</c>: the AvgPool2d comes first even when the stride is 1) and style 'pytorch'; the first block
/// of each stage is of the 'stage' type.
/// </summary>
[Register(Registries.ModelsName, "Res2Net")]
public sealed class Res2Net : ResNet
{
    private static readonly Dictionary<int, int[]> Arch = new()
    {
        [50] = [3, 4, 6, 3],
        [101] = [3, 4, 23, 3],
        [152] = [3, 8, 36, 3],
    };

    /// <param name="depth">50, 101 or 152.</param>
    /// <param name="scales">Splits per block (> 1).</param>
    /// <param name="baseWidth">Channels per split at <c>base_channels</c> planes.</param>
    /// <param name="args">MMDetection's ResNet arguments; deep_stem, avg_down and style are fixed by Res2Net.</param>
    public Res2Net(int depth, int scales = 4, int baseWidth = 26, [InheritedArguments] ResNetArguments? args = null)
        : base(PlanOf(depth, scales, baseWidth, args ?? new ResNetArguments()))
    {
    }

    private static Plan PlanOf(int depth, int scales, int baseWidth, ResNetArguments a)
    {
        if (!Arch.TryGetValue(depth, out var blocks))
            throw new DetSharpException($"Res2Net: invalid depth {depth}; expected one of 50, 101, 152.");
        if (a.Style is ResNetStyle.Caffe)
            throw new DetSharpException("Res2Net: style is always 'pytorch' in Res2Net; remove style='caffe' from the backbone config.");
        a = WithResNetDefaults(a with
        {
            DeepStem = Fixed("Res2Net", "deep_stem", a.DeepStem, true),
            AvgDown = Fixed("Res2Net", "avg_down", a.AvgDown, true),
        });
        int baseChannels = a.BaseChannels!.Value;
        return new Plan("Res2Net", a, StemKind.ResNet, DoublingPlanes(a), blocks, Bottle2neck.Expansion,
            (_, b) => new Bottle2neck(b.Inplanes, b.Planes, b.Stride, b.Dilation, b.Downsample, b.Style, b.NormCfg, scales, baseWidth, baseChannels,
                b.Index == 0 ? Bottle2neckStageType.Stage : Bottle2neckStageType.Normal, b.Dcn), BlocksTakeDcn: true);
    }
}
